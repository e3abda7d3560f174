// Unit-level tests of the card's pure modules (no page): the risk rules, the card's sentences
// and the accent colours made readable per theme.
import { expect, test } from "@playwright/test";
import { agoText, riskSignals, STALE_AFTER_SECONDS } from "../src/lib/risk";
import { approveLabel, approverText, approvingSentence, distinctDetails, initiatorText, requestedText } from "../src/lib/card";
import { contrast, readableAccent, SURFACES } from "../src/lib/color";
import { answerNotSent } from "../src/lib/errors";
import { login } from "./fixtures";

const NOW = 1_800_000_000;

test.describe("risk rules", () => {
  const base = { facts: { requests_last_hour: 1, network: "same" as const }, requester: login().requester, created_at: NOW - 10, app: login().app };

  test("an ordinary request raises nothing", () => {
    expect(riskSignals(base, NOW), "same network, browser sent, the only one, just asked").toEqual([]);
  });

  test("another network is flagged; an unknown network is not", () => {
    expect(riskSignals({ ...base, facts: { requests_last_hour: 1, network: "other" } }, NOW)).toEqual([
      { kind: "other_network", text: "Another network than this computer" },
    ]);
    expect(riskSignals({ ...base, facts: { requests_last_hour: 1, network: "unknown" } }, NOW)).toEqual([]);
  });

  test("no browser details sent is flagged, whether the requester is missing or has no user agent", () => {
    expect(riskSignals({ ...base, requester: null }, NOW).map((s) => s.kind)).toEqual(["no_browser_details"]);
    const noUa = { ip: "203.0.113.7", location: "Lisbon", user_agent: null };
    expect(riskSignals({ ...base, requester: noUa }, NOW).map((s) => s.kind)).toEqual(["no_browser_details"]);
    const blank = { ip: null, location: null, user_agent: "" };
    expect(riskSignals({ ...base, requester: blank }, NOW).map((s) => s.kind), "an empty user agent is no details").toEqual([
      "no_browser_details",
    ]);
  });

  test("a burst is more than one request in the hour, and says how many", () => {
    expect(riskSignals({ ...base, facts: { requests_last_hour: 2, network: "same" } }, NOW)).toEqual([
      { kind: "burst", text: "2nd request from Acme Bank in the last hour" },
    ]);
  });

  test("asked long ago: only past the threshold, saying how long", () => {
    expect(riskSignals({ ...base, created_at: NOW - STALE_AFTER_SECONDS }, NOW), "exactly the threshold is not stale").toEqual([]);
    expect(riskSignals({ ...base, created_at: NOW - 185 }, NOW)).toEqual([{ kind: "asked_long_ago", text: "Asked 3 minutes ago" }]);
    expect(riskSignals({ ...base, created_at: NOW - 3_900 }, NOW)[0].text).toBe("Asked 1 hour 5 minutes ago");
  });

  test("no facts from an older service: no network or burst claim", () => {
    expect(riskSignals({ ...base, facts: null }, NOW)).toEqual([]);
  });

  test("every signal at once, in a fixed order", () => {
    const all = riskSignals({ ...base, facts: { requests_last_hour: 5, network: "other" }, requester: null, created_at: NOW - 600 }, NOW);
    expect(all.map((s) => s.kind)).toEqual(["other_network", "no_browser_details", "burst", "asked_long_ago"]);
  });

  test("durations read in whole units", () => {
    expect([agoText(1), agoText(59), agoText(60), agoText(7_200), agoText(172_800)]).toEqual([
      "1 second",
      "59 seconds",
      "1 minute",
      "2 hours",
      "2 days",
    ]);
  });
});

test.describe("card text", () => {
  test("the Approve button names the action", () => {
    expect(approveLabel({ kind: "action", action_label: "Release $12,500" })).toBe("Release $12,500");
    expect(approveLabel({ kind: "sign_in", action_label: null })).toBe("Approve sign-in");
    expect(approveLabel({ kind: "action", action_label: null })).toBe("Approve");
    expect(approveLabel({ kind: null, action_label: "  " }), "a blank label is no label").toBe("Approve");
  });

  test("one sentence says what approving does", () => {
    expect(approvingSentence(login())).toBe(
      "Approving signs Firefox 133 on Linux, near Lisbon, Portugal (approx.), into your Acme Bank account.",
    );
    expect(approvingSentence(login({ requester: null }))).toBe(
      "Approving signs a browser that sent no details into your Acme Bank account.",
    );
    expect(approvingSentence(login({ kind: "action", action_label: "Release $12,500", requester: null }))).toBe(
      "Approving confirms “Release $12,500” at Acme Bank.",
    );
    expect(approvingSentence(login({ kind: null }))).toContain("Approving tells Acme Bank yes");
  });

  test("when it was requested: the time and how long ago", () => {
    const created = NOW - 125;
    const time = new Date(created * 1000).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    expect(requestedText(created, NOW)).toBe(`${time}, 2 min ago`);
    expect(requestedText(NOW - 5, NOW)).toMatch(/, just now$/);
  });

  test("approvers' states, and who asked", () => {
    const ana = { name: "Ana", state: "approved" as const, is_me: false, is_initiator: true };
    const me = { name: "Bruno", state: "waiting" as const, is_me: true, is_initiator: false };
    expect([approverText(ana), approverText(me)]).toEqual(["Ana approved", "You: waiting"]);
    expect(approverText({ ...ana, state: "denied" })).toBe("Ana denied");
    expect(initiatorText([ana, me])).toBe("Asked by Ana");
    expect(initiatorText([{ ...me, is_initiator: true }])).toBe("Asked by you");
    expect(initiatorText([])).toBeNull();
  });

  test("each detail once: lines repeating the browser, place or address are dropped", () => {
    const request = login({
      details: [
        { label: "Username", value: "ana" },
        { label: "Browser", value: "firefox 133 on linux " },
        { label: "From", value: "Lisbon, Portugal" },
        { label: "IP", value: "203.0.113.7" },
        { label: "Username", value: "ana" },
      ],
    });
    expect(distinctDetails(request)).toEqual([{ label: "Username", value: "ana" }]);
  });

  test("which failed answers were never sent", () => {
    expect(answerNotSent("network")).toBe(true);
    expect(answerNotSent("verification_refused")).toBe(true);
    expect(answerNotSent("wrong_code"), "a wrong code reached the service").toBe(false);
    expect(answerNotSent("already_decided")).toBe(false);
  });
});

test.describe("accent colours", () => {
  test("a colour that fails 3:1 on a theme's surface is adjusted until it passes", () => {
    for (const color of ["#0b5fff", "#0f7b3f", "#000000", "#ffee00", "#777777", "#1a1d24"]) {
      for (const theme of ["light", "dark"] as const) {
        const shown = readableAccent(color, theme);
        expect(shown, `${color} in ${theme}`).not.toBeNull();
        expect(contrast(shown!, SURFACES[theme]), `${color} in ${theme} becomes ${shown}`).toBeGreaterThanOrEqual(3);
      }
    }
  });

  test("a colour that already contrasts is kept", () => {
    expect(readableAccent("#0b5fff", "light")).toBe("#0b5fff");
    expect(readableAccent("#ffd54f", "dark")).toBe("#ffd54f");
  });

  test("the dark theme lightens a dark brand colour", () => {
    const shown = readableAccent("#0f3b7f", "dark")!;
    expect(contrast("#0f3b7f", SURFACES.dark)).toBeLessThan(3);
    expect(contrast(shown, "#ffffff"), "lighter than the original").toBeLessThan(contrast("#0f3b7f", "#ffffff"));
  });

  test("anything but #rrggbb is refused", () => {
    for (const bad of ["red", "#fff", "#0b5fff; background: url(x)", "var(--x)", "", null]) {
      expect(readableAccent(bad, "dark"), String(bad)).toBeNull();
    }
  });
});
