// How the service's facts about a request read for a person. The network is a hint, never proof
// (a shared NAT or a VPN makes either answer wrong), and every text says so.
import type { NetworkFact } from "./types";

/** "1st", "2nd", "3rd", "11th", "22nd". */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${suffix}`;
}

/** "3rd request from Acme Bank in the last hour", or that it is the only one. */
export function requestsText(requestsLastHour: number, app: string): string {
  return requestsLastHour > 1
    ? `${ordinal(requestsLastHour)} request from ${app} in the last hour`
    : `The only request from ${app} in the last hour`;
}

/** The network line, or null when the service could not tell (the relying party gave no address). */
export function networkText(network: NetworkFact): string | null {
  switch (network) {
    case "same":
      return "Same network as this computer";
    case "other":
      return "Another network than this computer";
    case "unknown":
      return null;
  }
}

export const NETWORK_CAVEAT =
  "As far as the service can tell: it compares the address the request came from with the one this computer last connected from. A shared network or a VPN can make this wrong either way.";
