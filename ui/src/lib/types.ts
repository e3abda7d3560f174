// Mirrors src-tauri/src/view.rs: what crosses IPC. No keys, tokens or digests ever do.

export type RequestStatus = "pending" | "approved" | "denied" | "expired" | "cancelled";

export interface Branding {
  name: string;
  accent_color: string | null;
  /** A data: URL of the checked logo; null shows the placeholder. */
  logo: string | null;
}

export interface Detail {
  label: string;
  value: string;
}

export interface Requester {
  ip: string | null;
  location: string | null;
  user_agent: string | null;
}

export interface RequestView {
  id: string;
  account_id: string;
  app: Branding;
  message: string;
  details: Detail[];
  requester: Requester | null;
  created_at: number;
  expires_at: number | null;
  number_choices: number[] | null;
  quorum: number;
  approvers: number;
}

export interface ResolvedView {
  id: string;
  status: RequestStatus | null;
  decided_here: boolean;
}

export interface AccountView {
  id: string;
  app: Branding;
  user_id: number;
  server: string;
  device_name: string;
  enrolled_at: number;
  revoked: boolean;
}

export type ConnectionState =
  | { state: "connecting" }
  | { state: "connected" }
  | { state: "reconnecting"; attempt: number; retry_in_ms: number }
  | { state: "offline" };

export interface ConnectionView {
  account_id: string;
  state: ConnectionState;
}

export interface HistoryView {
  request_id: string;
  app_name: string;
  message: string;
  outcome: "approve" | "deny";
  reason: string | null;
  decided_at: number;
}

export interface Settings {
  autostart: boolean;
  notifications_paused: boolean;
}

export interface StateView {
  accounts: AccountView[];
  pending: RequestView[];
  connections: ConnectionView[];
  settings: Settings;
  enroll_link: string | null;
}

export interface DecisionView {
  id: string;
  status: RequestStatus;
}

export interface NoticeView {
  code: string;
  message: string;
}

/** Every command error: the UI switches on `code`, never on `message`. */
export interface CommandError {
  code: string;
  message: string;
}
