// What each error code means for a person. Switches on the stable code (the Rust ErrorKind,
// generated), never the message text; a code added in Rust fails `npm run check` here until it
// has a message.
import type { ErrorKind, RequestStatus } from "./types";

export function errorMessage(error: { code: ErrorKind }): string {
  const code = error.code;
  switch (code) {
    case "keychain_unavailable":
      return "Your system keychain is not available, so Assent cannot keep its key safe. Start your keyring (for example GNOME Keyring or KWallet) and try again.";
    case "keychain_error":
      return "Your system keychain refused the operation. Unlock it and try again.";
    case "key_missing":
      return "This account's key is missing from your keychain. Remove the account and enroll again.";
    case "invalid_link":
      return "That is not a valid enrollment link. Paste the whole assent://enroll link, or the token together with the service address.";
    case "token_invalid":
      return "This enrollment link was already used or has expired. Ask for a new one.";
    case "network":
      return "Cannot reach the service. Check your connection; Assent keeps retrying.";
    case "clock_skew":
      return "Your computer's clock is off. Turn on automatic time and try again.";
    case "not_pending":
    case "request_not_found":
      return "This request is no longer waiting for you.";
    case "already_decided":
      return "You already answered this request.";
    case "wrong_number":
      return "That was not the number or code shown where you signed in. The request was denied to keep you safe.";
    case "wrong_code":
      return "That was not the code shown where you signed in. Type it again.";
    case "invalid_number":
      return "Pick the number or type the whole code shown where you signed in.";
    case "revoked":
      return "This device was removed from the account. Enroll it again to use it.";
    case "revocation_unproven":
      return "The service refuses this device but did not prove it was removed, so its key is kept. If you removed this device, remove the account here too; otherwise the service may be misconfigured or impersonated.";
    case "insecure_server":
      return "This service does not use a secure connection (https). Enroll only if you accept the warning.";
    case "too_many_requests":
      return "More requests are waiting than this computer shows at once. The oldest are shown; the rest appear as those are answered.";
    case "spoofed":
      return "A request failed its security check and was not shown.";
    case "unknown_account":
      return "That account no longer exists on this computer.";
    case "storage_error":
      return "Assent could not read or write its data folder.";
    case "autostart_failed":
      return "Start at login could not be changed.";
    case "update_unavailable":
      return "Assent could not reach its update server. It will try again later.";
    case "update_signature_invalid":
      return "The update did not pass its signature check, so it was not installed. Assent keeps running the version you have.";
    case "update_not_now":
      return "The update cannot be installed right now. Answer any waiting request first, then try again.";
    case "update_install_failed":
      return "The update could not be installed. Assent keeps running the version you have.";
    case "clipboard_unavailable":
      return "The clipboard is not available, so the code was not copied. Type it from the screen instead.";
    case "verification_refused":
      return "Your system did not confirm it is you, so nothing was approved. The request is still waiting: choose Approve again and enter your password, or deny it.";
    case "verification_unavailable":
      return "Your system cannot ask for your password (no polkit authentication agent is running, or this system is not supported), so nothing was approved. Deny the request, or approve it on a device that can confirm it is you.";
    case "verification_failed":
      return "Confirming it is you failed, so nothing was approved. The request is still waiting: try again.";
    case "service_error":
    case "protocol_error":
      return "The service could not handle this request. Try again in a moment.";
    case "invalid_setting":
      return "One of Assent's settings has a value it cannot use. Check how it was started.";
    case "invalid_argument":
    case "internal":
      return "Something went wrong. Try again.";
    default:
      return unreachable(code);
  }
}

function unreachable(code: never): string {
  return `Something went wrong (${String(code)}). Try again.`;
}

/** Why a request left the screen, for the short explanation shown in its place. */
export function resolvedMessage(status: RequestStatus | null, decidedHere: boolean, app: string): string {
  if (decidedHere) {
    return status === "pending" ? "Approved. Waiting for the other approvers." : "Done.";
  }
  switch (status) {
    case "approved":
      return "Approved on another device.";
    case "denied":
      return "Denied on another device.";
    case "expired":
      return "This request expired.";
    case "cancelled":
      return `${app} cancelled this request.`;
    default:
      return "This request is no longer waiting.";
  }
}

/**
 * After approving or denying failed: true when the answer never reached the service (nothing was
 * decided, the request is unchanged), false when the service received it and refused it (a wrong
 * code or number, already answered, no longer waiting). Decides whether the card says "Your answer
 * was not sent"; switches on the code, never the message.
 */
export function answerNotSent(code: ErrorKind): boolean {
  switch (code) {
    case "wrong_code":
    case "wrong_number":
    case "already_decided":
    case "not_pending":
    case "request_not_found":
      return false;
    default:
      return true;
  }
}

/** The next step after an answer that was not sent, when the request is still waiting for it. */
export function notSentNextStep(code: ErrorKind): string | null {
  switch (code) {
    case "network":
    case "service_error":
    case "protocol_error":
    case "internal":
    case "storage_error":
      return "The request is still waiting: answer again once the service can be reached, or sign in another way.";
    case "clock_skew":
      return "The request is still waiting: fix the clock, then answer again.";
    case "keychain_unavailable":
    case "keychain_error":
      return "The request is still waiting: unlock your keychain, then answer again.";
    default:
      return null;
  }
}
