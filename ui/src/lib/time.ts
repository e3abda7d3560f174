/** Unix seconds now. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** "4:05", "1:02:03", or "0:00" once past. */
export function countdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** A spoken form for screen readers ("4 minutes 5 seconds"). */
export function spokenDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts: string[] = [];
  if (h) parts.push(`${h} hour${h === 1 ? "" : "s"}`);
  if (m) parts.push(`${m} minute${m === 1 ? "" : "s"}`);
  if (!h && (s % 60 || !m)) parts.push(`${s % 60} second${s % 60 === 1 ? "" : "s"}`);
  return parts.join(" ");
}

/** The last stretch before expiry in which the time left ticks as mm:ss. */
export const TICKING_SECONDS = 120;

/**
 * How a request's expiry reads at `now`: the time it ends while that is more than two minutes
 * away ("Expires at 13:07", "Expires tomorrow at 13:07", "Expires 3 Dec at 13:07"), a ticking
 * "Expires in 1:45" in the last two minutes (a person reads a clock time, not a long countdown),
 * and "Expired" once past.
 */
export function expiryText(expiresAt: number, now: number): string {
  const left = expiresAt - now;
  if (left <= 0) return "Expired";
  if (left <= TICKING_SECONDS) return `Expires in ${countdown(left)}`;
  const end = new Date(expiresAt * 1000);
  const today = new Date(now * 1000);
  const tomorrow = new Date(today);
  tomorrow.setDate(today.getDate() + 1);
  const time = end.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (end.toDateString() === today.toDateString()) return `Expires at ${time}`;
  if (end.toDateString() === tomorrow.toDateString()) return `Expires tomorrow at ${time}`;
  return `Expires ${end.toLocaleDateString(undefined, { day: "numeric", month: "short" })} at ${time}`;
}

/** "14:02" today, or "3 Nov, 14:02". */
export function when(unix: number): string {
  const d = new Date(unix * 1000);
  const today = new Date();
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleDateString(undefined, { day: "numeric", month: "short" })}, ${time}`;
}

/** "14:02:05" (24-hour, local time) for a Unix time in milliseconds. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}
