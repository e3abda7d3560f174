// The only module that talks to the Rust side. Every command and event goes through here.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AccountView,
  CommandError,
  ConnectionView,
  DecisionView,
  HistoryView,
  NoticeView,
  RequestView,
  ResolvedView,
  Settings,
  StateView,
} from "./types";

/** Turns whatever a command rejected with into a CommandError. */
export function asCommandError(e: unknown): CommandError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    return { code: String((e as CommandError).code), message: String((e as CommandError).message) };
  }
  return { code: "internal", message: String(e) };
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    throw asCommandError(e);
  }
}

export const getState = () => call<StateView>("get_state");
export const enroll = (link: string, server: string | null) => call<AccountView>("enroll", { link, server });
export const removeAccount = (accountId: string) => call<void>("remove_account", { account_id: accountId });
export const approve = (id: string, number: number | null) => call<DecisionView>("approve", { id, number });
export const deny = (id: string, reason: "not_me" | "cancelled") => call<DecisionView>("deny", { id, reason });
export const history = () => call<HistoryView[]>("history");
export const setSettings = (settings: Settings) => call<Settings>("set_settings", { settings });

export interface Handlers {
  pending(list: RequestView[]): void;
  resolved(resolved: ResolvedView): void;
  connection(connection: ConnectionView): void;
  accounts(accounts: AccountView[]): void;
  openRequest(id: string): void;
  enrollLink(link: string): void;
  notice(notice: NoticeView): void;
}

/** Subscribes to every event the Rust side sends; returns a function that unsubscribes. */
export async function subscribe(h: Handlers): Promise<() => void> {
  const unlisten: UnlistenFn[] = await Promise.all([
    listen<RequestView[]>("assent://pending", (e) => h.pending(e.payload)),
    listen<ResolvedView>("assent://resolved", (e) => h.resolved(e.payload)),
    listen<ConnectionView>("assent://connection", (e) => h.connection(e.payload)),
    listen<AccountView[]>("assent://accounts", (e) => h.accounts(e.payload)),
    listen<string>("assent://open-request", (e) => h.openRequest(e.payload)),
    listen<string>("assent://enroll-link", (e) => h.enrollLink(e.payload)),
    listen<NoticeView>("assent://notice", (e) => h.notice(e.payload)),
  ]);
  return () => unlisten.forEach((u) => u());
}
