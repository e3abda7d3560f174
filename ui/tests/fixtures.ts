// Sample data, typed by the types generated from Rust (crates/device/src/view.rs): a fixture that
// no longer matches them fails `npm run check`.
import type { AccountView, ConnectionView, HistoryView, RequestView, StateView, UpdateView } from "../src/lib/types";

// A 96x96 "Acme Bank" logo (PNG), as the Rust side hands logos over: a data: URL.
const ACME_LOGO = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAGAAAABgCAYAAADimHc4AAAABGdBTUEAALGPC/xhBQAAACBjSFJNAAB6JgAAgIQAAPoAAACA6AAAdTAAAOpgAAA6mAAAF3CculE8AAAABmJLR0QA/wD/AP+gvaeTAAAAB3RJTUUH6gsZEgEkG3AZzgAABtdJREFUeNrtndtzU1UUh78c0trbpKdJKlDviiIXA1LADHflIlelIqC+yQwvfcFH/wUfnMEXZxx8VB5AWtFRK6BWxZKpowOdsQzIeB07KKSXlNKWtokP56QG2iQ7TXrWsdnfU5uss7P2+mXvs/dap90eciRihgDqgJXABmAVMB/w5drW/5wYcAloA1qBdqAr3NuRUyMeVcOIGaoE9gGHKb5gqxIDDgHHw70dAyoXZBUgYoa8wEHgbene/c9oBI6EeztGMxllFCBihhYAEfQ3fqrEgHC4t+NiOgMj3RsRM7Qb6EQHPx98QKcdy0mZVICIGXoVaJb2fgbRbMd0AhOmIFstHfzpoSHc2/Fh6gu3CWDP+Z3SXs5wFqbeE8YFsFc7UfScP93EgEBydZR6DziIDr4T+LBiDdgjwN5k3ZD2rMioCvd2DCRHwF5pb4qQfQAeO7fTh55+nCYGVBtYiTUdfOfxAXUGVlZTI8NKAyulrJFhg4GVz9fIsMrAKqZoZJhvoG/AkviM/NvQ5IMWQBgtgDBaAGG0AMJoAYTRAgjjlXZAhcfeP0zN9qdzuyiR4PzS7Qz/0SXtfkZcPwK8fhNz89rcL/R4CO7fKe1+VlwvQGDPNjwlUxuowf27pN3PiusFqH1p6kEse+R+qlYske5CRlwtQPmjD1G5bFFebdS+/Jx0NzLiagGCr+QfPH/DFoy7SqW7khb3CmAYBPduz7sZr+nD3LpeujfpuyntQDp8a1dQes+cgrQVzOM+Mt24VoBCzt3mpjWUBGukuzQprhTAqCjHv2tjwdrzeGcReDH/6Wxa+irtwGT4n9uEUVGuZDt4+RclO7dOQ64UQHX6Gbx4ha4331WyrVyygPLHH5Hu2gRcJ0Bp3Wx8a5Yr2UZPtNDzaSvx4WElezfuCVwnQHD/TjDU3Io2tTB2Y4C+098p2Qf27VBu2ync5Q0QfEktgTZwvpOhX/8EINr0mdI1pXNqqd7wlHQXb8NVAlTVL6b8sYeVbKNNLeM/97R8Q/zmoNJ1bpuGXCWA8kolkSDa9Pn4r/HBIXpavla6tGbHM8yqqpTu6jiuEcBT4iXwwlYl2/72C9z66+ptr6UKkrHD5WX4n98s3d3//JF2IIm5ZR1ev6lkGz3RMuG1vjNnGetX+u8ArtoTuEaA2pfVgpIYi9N98tSE1+PDt+j55EulNnyr67nrvrnSXQZcIoC3plq57Nh/9ntG/olO+p7qNGSVK90xClwhQGDPNjylJUq20eb0Qe5rPcdoT59SO26pF7tCANWlYWJklO6PzmR+/+MvlNoqm/cAVctD0l2XF6Ds0QeVy44q3/DuZsVpCKgtQMUtX8QFyGVjNNnq505i37Yzcq1bqT1/w7PKU990ISuAx6NcdowPD9PzyVdZ7RJjcbo/Oq3Uptf0USNcrhQVwLduJaX3qi0He0+dZeyG2jpfeTUEBIVTE6KPJubyzM/Nny5T+aTavSI+NMRY7AazfFVZbc2NqykJ1jByvUckBp6IGUpIfLBRUc6yy18yq7JCpOOp/P76G1x956jIZ4tNQf5dG10RfJBNTYgJ4Ka0cOXShWLlShEBSutm41u7QqTD6cjnGdR8EBEg6MLSoFS5UkYAxcynk5TOvZvq9c6XKx0XoHLZIuWyo9NIfDEcF0BqrlXBv9P5lZmjGzGr7LhN2b5zxwH6237I+3MXnX6PquVPZLVLliuvHT3pWEwcHQHmlnV4A6aS7a2uv+k/92NBPjf1CYpsOJ2acFSAXKaf6IkWSBRmkx5taoF4XMnWt7peOT9VCBwTwFtTjblF/a8doyfUHrZSYeTv68TaFEeTx0Otg9UyxwQIvLBVOfc+9PNvDFy4qGSrSi6COpmacEyAXObW6wX89ifpPnmaxMiokq2T5UpHBCib9wBV9YuV7Qs5/SQZ7emjr/Wcsr1TewJHBMgl8TZwvpOhK79Pix/RD9SFDThUrhSrB2gs3JURK0K0AMJoAYTRAgijBRBGCyCMFkAYA+skB40MMQPrSFaNDJcMrPNwNTK0GViHEWtkaDWwToLWyNBuAF3oG7EEMaDLsM9Af03amyLkULi3Y3wfcEzamyLkONgbMfsA+kZpj4qIRjvmt+2Ej6DvBU4Qw4o1kCKAfb5tWNq7IiCcPEsY7sgF2Sc9N0h7OINpSD1NGyZJxtlnnh+Q9nQGcuDO8+ThjjPlU4mYod1As7TXM4SGyYIPGQQAiJihBUAEfdreVIlhzflpH/PLWA+wLwygl6hToREIZAo+ZBkBqdjnzu8F3kKPiHTEsLIKx5Lr/GwoC5DEPgK9Dusg6A1Yx+HOp/hEiWHVUtqwMsrtQJed2lHmX4a1r9VcfZxxAAAAJXRFWHRkYXRlOmNyZWF0ZQAyMDI2LTExLTI1VDE4OjAxOjM2KzAwOjAwpxyhQQAAACV0RVh0ZGF0ZTptb2RpZnkAMjAyNi0xMS0yNVQxODowMTozNiswMDowMNZBGf0AAAAASUVORK5CYII=";

export const now = () => Math.floor(Date.now() / 1000);

// --- card-data (issue 15): what the service signs and the device stores for the approval card.
// Spread into the fixtures below; tests override them per case.
const cardDataAccount = {
  account_name: "Ana Ferreira",
  host: "auth.acme.example",
} satisfies Pick<AccountView, "account_name" | "host">;
const cardDataRequest = {
  kind: "sign_in",
  action_label: null,
  account_name: "Ana Ferreira",
  server_host: "auth.acme.example",
  approver_states: [],
  my_answer: null,
  is_initiator: true,
} satisfies Pick<
  RequestView,
  "kind" | "action_label" | "account_name" | "server_host" | "approver_states" | "my_answer" | "is_initiator"
>;
/** A wire transfer that Bo asked for and Ana (this device) must also approve. */
const cardDataWire = {
  kind: "action",
  action_label: "Release $12,500",
  approver_states: [
    { name: "Bo Lindqvist", state: "approved", is_me: false, is_initiator: true },
    { name: "Ana Ferreira", state: "waiting", is_me: true, is_initiator: false },
  ],
  is_initiator: false,
} satisfies Partial<RequestView>;
// --- end card-data

export const account: AccountView = {
  id: "acc-1",
  app: { name: "Acme Bank", accent_color: "#0b5fff", logo: ACME_LOGO },
  user_id: 1635,
  server: "https://auth.acme.example/",
  device_name: "ana-laptop (desktop)",
  enrolled_at: 1_764_000_000,
  revoked: false,
  ...cardDataAccount,
};

export const otherAccount: AccountView = {
  id: "acc-2",
  app: { name: "Northwind HR", accent_color: "#0f7b3f", logo: null },
  user_id: 77,
  server: "https://id.northwind.example/",
  device_name: "ana-laptop (desktop)",
  enrolled_at: 1_764_000_100,
  revoked: false,
  ...cardDataAccount,
  host: "id.northwind.example",
};

export function login(overrides: Partial<RequestView> = {}): RequestView {
  return {
    id: "11111111-1111-4111-8111-111111111111",
    account_id: "acc-1",
    app: account.app,
    message: "Sign in to Acme Bank?",
    details: [
      { label: "Username", value: "ana" },
      { label: "Browser", value: "Firefox 133 on Linux" },
    ],
    requester: { ip: "203.0.113.7", location: "Lisbon, Portugal", user_agent: "Firefox 133 on Linux" },
    created_at: now() - 5,
    expires_at: now() + 295,
    number_matching: null,
    facts: null,
    quorum: 1,
    approvers: 1,
    verification_required: false,
    ...cardDataRequest,
    ...overrides,
  };
}

export function wire(overrides: Partial<RequestView> = {}): RequestView {
  return login({
    id: "22222222-2222-4222-8222-222222222222",
    message: "Approve wire transfer of $12,500 to ACME Corp?",
    details: [
      { label: "Amount", value: "$12,500.00" },
      { label: "To", value: "ACME Corp — IBAN PT50 0002 0123 1234 5678 9015 4" },
      { label: "Reference", value: "Invoice 2026-114" },
    ],
    number_matching: { mode: "pick", choices: [27, 64, 93] },
    quorum: 2,
    approvers: 2,
    created_at: now() - 2,
    expires_at: now() + 600,
    ...cardDataWire,
    ...overrides,
  });
}

/** A sign-in asking the initiator to type the 4-digit code the relying party shows, with the
 * service's facts: the third request in an hour, from this computer's network. */
export function typedLogin(overrides: Partial<RequestView> = {}): RequestView {
  return login({
    id: "33333333-3333-4333-8333-333333333333",
    number_matching: { mode: "typed", digits: 4 },
    facts: { requests_last_hour: 3, network: "same" },
    ...overrides,
  });
}

/** An account's link: connected, heard from a second ago. */
export function connected(account_id: string): ConnectionView {
  return { account_id, state: { state: "connected" }, last_contact_at_ms: Date.now() - 1000 };
}

export function state(overrides: Partial<StateView> = {}): StateView {
  return {
    accounts: [account],
    pending: [],
    connections: [connected("acc-1")],
    settings: { autostart: false, notifications_paused: false, check_for_updates: true, verify_every_approval: false },
    enroll_link: null,
    ...overrides,
  };
}

export const history: HistoryView[] = [
  { request_id: "h1", app_name: "Acme Bank", message: "Sign in to Acme Bank?", outcome: "approve", reason: null, decided_at: now() - 60 },
  { request_id: "h2", app_name: "Acme Bank", message: "Sign in to Acme Bank?", outcome: "deny", reason: "not_me", decided_at: now() - 3600 },
  { request_id: "h3", app_name: "Northwind HR", message: "Approve payroll run?", outcome: "deny", reason: "cancelled", decided_at: now() - 90_000 },
];

/** A newer signed version on offer (the update server's manifest). */
export function updateAvailable(overrides: Partial<UpdateView> = {}): UpdateView {
  return {
    current_version: "0.1.0",
    state: { state: "available", version: "0.2.0", notes: "Faster reconnects and a clearer approval screen." },
    last_checked_at: now() - 30,
    error: null,
    ...overrides,
  };
}
