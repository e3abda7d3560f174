// What the app itself finds unusual about a request: the risk band's rules. Pure (the time is
// passed in), so the rules are tested without a page. The relying party controls none of this
// text or its colour: the band speaks in the app's words, whatever the request says.
import { networkText, requestsText } from "./facts";
import type { RequestView } from "./types";

/** A request asked this long before it is looked at (seconds) reads as "asked long ago". */
export const STALE_AFTER_SECONDS = 120;

/** One reason a request looks wrong. `kind` is stable (tests, data attributes); `text` is for people. */
export interface RiskSignal {
  kind: "other_network" | "no_browser_details" | "burst" | "asked_long_ago";
  text: string;
}

/** "3 minutes", "1 hour 5 minutes", "2 days" (whole units, floor). */
export function agoText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? "" : "s"}`;
  const h = Math.floor(m / 60);
  if (h < 24) {
    const rest = m % 60;
    return `${h} hour${h === 1 ? "" : "s"}${rest ? ` ${rest} minute${rest === 1 ? "" : "s"}` : ""}`;
  }
  const d = Math.floor(h / 24);
  return `${d} day${d === 1 ? "" : "s"}`;
}

/**
 * Every reason `request` looks wrong at `now` (Unix seconds), in a fixed order; empty when
 * nothing stands out. A request with no `facts` (an older service) is judged on what it has:
 * no network or burst claim is made from facts that were never sent.
 */
export function riskSignals(
  request: Pick<RequestView, "facts" | "requester" | "created_at" | "app">,
  now: number,
): RiskSignal[] {
  const signals: RiskSignal[] = [];
  const facts = request.facts;
  if (facts?.network === "other") {
    signals.push({ kind: "other_network", text: networkText("other") ?? "" });
  }
  if (!request.requester?.user_agent) {
    signals.push({ kind: "no_browser_details", text: "No browser details were sent with this request" });
  }
  if (facts && facts.requests_last_hour > 1) {
    signals.push({ kind: "burst", text: requestsText(facts.requests_last_hour, request.app.name) });
  }
  const age = now - request.created_at;
  if (age > STALE_AFTER_SECONDS) {
    signals.push({ kind: "asked_long_ago", text: `Asked ${agoText(age)} ago` });
  }
  return signals;
}
