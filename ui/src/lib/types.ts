// The IPC types are generated from the Rust types (./generated/ipc.ts, by
// `npm run gen:types`; `npm run check` fails when that file is stale). This module adds only
// names the UI derives from them.
export type * from "./generated/ipc";
import type { SessionEvent } from "./generated/ipc";

/** A session event of one kind (`SessionEventOf<"pending">` has `requests`). */
export type SessionEventOf<K extends SessionEvent["kind"]> = Extract<SessionEvent, { kind: K }>;
