// The only module that talks to the Rust side. Every command and event goes through here; the
// payload types are generated from the Rust types.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { ERROR_KINDS, EVENTS } from "./generated/ipc";
import type {
  AccountView,
  Answer,
  ClockView,
  CodeView,
  EnrollOffer,
  EnrollPreview,
  DecisionView,
  DenyReason,
  ErrorKind,
  ErrorView,
  EventPayloads,
  FindingView,
  HistoryView,
  SessionEvent,
  SettingsView,
  StateView,
  UpdateView,
} from "./types";

/** The app's commands: their arguments (snake_case, as the Rust side takes them) and answers. */
export interface Commands {
  get_state: { args: Record<string, never>; answer: StateView };
  enroll: { args: { link: string; server: string | null; allow_insecure: boolean }; answer: AccountView };
  // enroll-preview: what a link would enroll into (nothing enrolled; the phrase computed by Rust).
  preview_enrollment: {
    args: { link: string; server: string | null; allow_insecure: boolean };
    answer: EnrollPreview;
  };
  remove_account: { args: { account_id: string }; answer: null };
  approve: { args: { id: string; answer: Answer | null }; answer: DecisionView };
  deny: { args: { id: string; reason: DenyReason }; answer: DecisionView };
  history: { args: Record<string, never>; answer: HistoryView[] };
  set_settings: { args: { settings: SettingsView }; answer: SettingsView };
  update_state: { args: Record<string, never>; answer: UpdateView };
  check_update: { args: Record<string, never>; answer: UpdateView };
  install_update: { args: Record<string, never>; answer: null };
  code: { args: { account_id: string }; answer: CodeView };
  copy_code: { args: { account_id: string }; answer: number };
  code_digits: { args: Record<string, never>; answer: number };
  set_code_digits: { args: { digits: number }; answer: number };
  clocks: { args: Record<string, never>; answer: ClockView[] };
  log_findings: { args: Record<string, never>; answer: FindingView[] };
  dismiss_finding: { args: { account_id: string; finding_id: string }; answer: FindingView[] };
  reconnect_now: { args: { account_id: string | null }; answer: null };
}
export type Command = keyof Commands;

const kinds: ReadonlySet<string> = new Set(ERROR_KINDS);

/** Turns whatever a command rejected with into an ErrorView (`internal` when it is not one). */
export function asCommandError(e: unknown): ErrorView {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const code = String((e as ErrorView).code);
    return { code: kinds.has(code) ? (code as ErrorKind) : "internal", message: String((e as ErrorView).message) };
  }
  return { code: "internal", message: String(e) };
}

async function call<C extends Command>(command: C, args: Commands[C]["args"]): Promise<Commands[C]["answer"]> {
  try {
    return await invoke<Commands[C]["answer"]>(command, args);
  } catch (e) {
    throw asCommandError(e);
  }
}

export const getState = () => call("get_state", {});
/** `allowInsecure` only after the person accepted the warning about a plain-http service. */
export const enroll = (link: string, server: string | null, allowInsecure: boolean) =>
  call("enroll", { link, server, allow_insecure: allowInsecure });
/** What a link would enroll into, asked of its service without using the token up; the phrase is
 * Rust's, from the link. `allowInsecure` only after the person accepted the plain-http warning. */
export const previewEnrollment = (link: string, server: string | null, allowInsecure: boolean) =>
  call("preview_enrollment", { link, server, allow_insecure: allowInsecure });
export const removeAccount = (accountId: string) => call("remove_account", { account_id: accountId });
/** `answer`: the number picked or the code typed, when number matching asks for one. */
export const approve = (id: string, answer: Answer | null) => call("approve", { id, answer });
export const deny = (id: string, reason: DenyReason) => call("deny", { id, reason });
export const history = () => call("history", {});
export const setSettings = (settings: SettingsView) => call("set_settings", { settings });
export const updateState = () => call("update_state", {});
export const checkUpdate = () => call("check_update", {});
/** Installs the update found and restarts the app into it (refused while a request waits). */
export const installUpdate = () => call("install_update", {});

/** An account's current one-time code (computed by Rust from the keychain's seed). */
export const code = (accountId: string) => call("code", { account_id: accountId });
/** Copies an account's code to the clipboard (Rust does it); answers the seconds until it is cleared. */
export const copyCode = (accountId: string) => call("copy_code", { account_id: accountId });
export const codeDigits = () => call("code_digits", {});
export const setCodeDigits = (digits: number) => call("set_code_digits", { digits });
/** Each account's service clock as last measured. */
export const clocks = () => call("clocks", {});

/** The approval-log monitor's open findings ("a device you may not know", ...). */
export const logFindings = () => call("log_findings", {});
/** "I know this device": dismisses a finding for good; answers the findings still open. */
export const dismissFinding = (accountId: string, findingId: string) =>
  call("dismiss_finding", { account_id: accountId, finding_id: findingId });

/** "Retry now": every account's stream (or one account's) reconnects at once instead of waiting
 * for its back-off; the connection events that follow say how it went. */
export const reconnectNow = (accountId: string | null) => call("reconnect_now", { account_id: accountId });

/** Listens to the session's events alone (for a component that follows one kind); returns a function that unsubscribes. */
export async function onSession(handle: (event: SessionEvent) => void): Promise<() => void> {
  return on(EVENTS.session, handle);
}

export interface Handlers {
  session(event: SessionEvent): void;
  openRequest(id: string): void;
  enrollLink(offer: EnrollOffer): void;
  update(update: UpdateView): void;
}

function on<K extends keyof EventPayloads>(event: K, handle: (payload: EventPayloads[K]) => void): Promise<UnlistenFn> {
  return listen<EventPayloads[K]>(event, (e) => handle(e.payload));
}

/** Subscribes to every event the Rust side sends; returns a function that unsubscribes. */
export async function subscribe(h: Handlers): Promise<() => void> {
  const unlisten: UnlistenFn[] = await Promise.all([
    on(EVENTS.session, h.session),
    on(EVENTS.openRequest, h.openRequest),
    on(EVENTS.enrollLink, h.enrollLink),
    on(EVENTS.update, h.update),
  ]);
  return () => unlisten.forEach((u) => u());
}
