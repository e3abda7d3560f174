// What a UI test hands the page: the answers the mocked Rust side gives. Typed by the types
// generated from Rust, so a fixture that no longer matches them fails `npm run check`.
import type { Command, Commands } from "../src/lib/ipc";
import type { ErrorView, FindingView, HistoryView, StateView, UpdateView } from "../src/lib/types";

export interface Scenario {
  state: StateView;
  history?: HistoryView[];
  /** What the app knows about updates (default: nothing known, version 0.1.0). */
  update?: UpdateView;
  /** The approval-log monitor's open findings (dismissing one removes it, as the Rust side does). */
  findings?: FindingView[];
  /** Command → the error it rejects with. */
  failures?: Partial<Record<Command, ErrorView>>;
  /** Account id → the codes `code` answers for it, one per call in turn (the last repeats);
   * default one fixed code. */
  codes?: Record<string, string[]>;
  /** The seconds each answered code has left (default 30). */
  codeSecondsLeft?: number;
  /** The code length `code_digits` answers (default 6). */
  codeDigits?: number;
  /** Command → its answer (instead of the default). */
  answers?: { [C in Command]?: Commands[C]["answer"] };
  // --- card-ui (issue 15) ---
  /** Command → milliseconds its answer takes (an answer travelling to the service). */
  delays?: Partial<Record<Command, number>>;
  // --- end card-ui ---
}

/** One command the page called, with its arguments. */
export interface Call {
  cmd: Command;
  args: Record<string, unknown>;
}
