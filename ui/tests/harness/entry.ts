// Runs in the page: Tauri's official mocks (@tauri-apps/api/mocks) stand in for the Rust side,
// answering commands from the test's scenario and delivering the events the test emits, then
// the real app starts.
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import type { Command, Commands } from "../../src/lib/ipc";
import type { AccountView } from "../../src/lib/types";
import type { Call, Scenario } from "../scenario";

declare global {
  interface Window {
    __scenario: Scenario;
    __assent: {
      calls: Call[];
      scenario: Scenario;
      emit(event: string, payload: unknown): Promise<void>;
    };
  }
}

const scenario = window.__scenario;
const calls: Call[] = [];
const codeCalls: Record<string, number> = {};

const sampleAccount: AccountView = {
  id: "a-1",
  app: { name: "Acme Bank", accent_color: "#0b5fff", logo: null },
  user_id: 7,
  server: "https://auth.acme.example",
  device_name: "laptop",
  enrolled_at: 0,
  revoked: false,
  account_name: "ana@acme.example",
  host: "auth.acme.example",
};

const idleUpdate = { current_version: "0.1.0", state: { state: "idle" as const }, last_checked_at: null, error: null };

/** What each command answers unless the scenario says otherwise (as the Rust side would). */
const defaults: { [C in Command]: (args: Commands[C]["args"]) => Commands[C]["answer"] } = {
  get_state: () => scenario.state,
  history: () => scenario.history ?? [],
  approve: (args) => ({ id: args.id, status: "approved", frozen_until: null }),
  deny: (args) => ({ id: args.id, status: "denied", frozen_until: null }),
  set_settings: (args) => args.settings,
  enroll: () => scenario.state.accounts[0] ?? sampleAccount,
  remove_account: () => null,
  update_state: () => scenario.update ?? idleUpdate,
  check_update: () => scenario.update ?? idleUpdate,
  install_update: () => null,
  code: (args) => {
    const list = scenario.codes?.[args.account_id] ?? ["492039"];
    const n = codeCalls[args.account_id] ?? 0;
    codeCalls[args.account_id] = n + 1;
    const code = list[Math.min(n, list.length - 1)];
    const app_name = scenario.state.accounts.find((a) => a.id === args.account_id)?.app.name ?? "Acme Bank";
    return { account_id: args.account_id, app_name, code, digits: code.length, seconds_left: scenario.codeSecondsLeft ?? 30, step_seconds: 30 };
  },
  copy_code: () => 30,
  code_digits: () => scenario.codeDigits ?? 6,
  set_code_digits: (args) => args.digits,
  clocks: () => [],
  log_findings: () => scenario.findings ?? [],
  dismiss_finding: (args) => {
    scenario.findings = (scenario.findings ?? []).filter(
      (f) => !(f.id === args.finding_id && f.account_id === args.account_id),
    );
    return scenario.findings;
  },
};

function isCommand(cmd: string): cmd is Command {
  return Object.prototype.hasOwnProperty.call(defaults, cmd);
}

mockWindows("main");
mockIPC(
  (cmd, payload) => {
    if (!isCommand(cmd)) throw { code: "internal", message: `unmocked command ${cmd}` };
    const args = (payload ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    const failure = scenario.failures?.[cmd];
    if (failure) throw failure;
    const canned = scenario.answers?.[cmd];
    if (canned !== undefined) return canned;
    return (defaults[cmd] as (args: unknown) => unknown)(args);
  },
  { shouldMockEvents: true },
);

window.__assent = { calls, scenario, emit: (event, payload) => emit(event, payload) };

void import("../../src/main");
