// The approval card's words, from the request alone (pure; `now` passed in): what approving
// does, what the Approve button says, when it was asked, and each approver's state. The app
// writes these sentences; the relying party only fills in its own name, label and details.
import type { ApproverView, RequestView } from "./types";

type CardFacts = Pick<RequestView, "kind" | "action_label" | "requester" | "app" | "message">;

/** "Release $12,500" (the relying party's label), "Approve sign-in" or "Approve". */
export function approveLabel(request: Pick<RequestView, "kind" | "action_label">): string {
  const label = request.action_label?.trim();
  if (label) return label;
  return request.kind === "sign_in" ? "Approve sign-in" : "Approve";
}

/** "Firefox on Linux, near Lisbon (approx.)": who is asking, or null when nothing was sent. */
export function requesterText(requester: RequestView["requester"]): string | null {
  const browser = requester?.user_agent?.trim();
  const place = requester?.location?.trim();
  const parts: string[] = [];
  if (browser) parts.push(browser);
  if (place) parts.push(`near ${place} (approx.)`);
  return parts.length > 0 ? parts.join(", ") : null;
}

/**
 * One sentence of what approving does: "Approving signs Firefox 133 on Linux, near Lisbon,
 * Portugal (approx.), into your Acme Bank account." for a sign-in; for an action, what is
 * confirmed ("Approving confirms “Release $12,500” at Acme Bank."); for a request that does not
 * say, that the service is told yes.
 */
export function approvingSentence(request: CardFacts): string {
  const app = request.app.name;
  const who = requesterText(request.requester);
  switch (request.kind) {
    case "sign_in":
      return who
        ? `Approving signs ${who}, into your ${app} account.`
        : `Approving signs a browser that sent no details into your ${app} account.`;
    case "action": {
      const label = request.action_label?.trim();
      const what = label ? `“${label}”` : "the action described below";
      return who ? `Approving confirms ${what} at ${app}, asked from ${who}.` : `Approving confirms ${what} at ${app}.`;
    }
    default:
      return who
        ? `Approving tells ${app} yes to the request below, asked from ${who}.`
        : `Approving tells ${app} yes to the request below.`;
  }
}

/** "13:05, just now", "13:05, 2 min ago", "13:05, 3 h ago" (local time of `createdAt`). */
export function requestedText(createdAt: number, now: number): string {
  const time = new Date(createdAt * 1000).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const ago = Math.max(0, now - createdAt);
  if (ago < 60) return `${time}, just now`;
  if (ago < 3600) return `${time}, ${Math.floor(ago / 60)} min ago`;
  if (ago < 86_400) return `${time}, ${Math.floor(ago / 3600)} h ago`;
  const day = new Date(createdAt * 1000).toLocaleDateString(undefined, { day: "numeric", month: "short" });
  return `${day} ${time}, ${Math.floor(ago / 86_400)} d ago`;
}

/** "Ana approved", "Bruno denied", "Carla: waiting"; this device's person is "You". */
export function approverText(approver: ApproverView): string {
  const name = approver.is_me ? "You" : approver.name;
  switch (approver.state) {
    case "approved":
      return `${name} approved`;
    case "denied":
      return `${name} denied`;
    case "waiting":
      return `${name}: waiting`;
  }
}

/** "Asked by Ana", "Asked by you", or null when the service named no initiator. */
export function initiatorText(approvers: ApproverView[]): string | null {
  const first = approvers.find((a) => a.is_initiator);
  if (!first) return null;
  return first.is_me ? "Asked by you" : `Asked by ${first.name}`;
}

/**
 * The relying party's detail lines without the ones the card already shows (the browser, the
 * place or the address, which the sentence and "More" carry): each detail appears once.
 */
export function distinctDetails(request: Pick<RequestView, "details" | "requester">): RequestView["details"] {
  const norm = (s: string | null | undefined) => (s ?? "").trim().toLowerCase();
  const shown = new Set(
    [request.requester?.user_agent, request.requester?.location, request.requester?.ip].map(norm).filter((s) => s !== ""),
  );
  const seen = new Set<string>();
  return request.details.filter((d) => {
    const key = `${norm(d.label)}\u0000${norm(d.value)}`;
    if (shown.has(norm(d.value)) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
