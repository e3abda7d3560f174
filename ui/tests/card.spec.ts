// Issue 15, the approval card and the screen around it: the app's strip, the risk band, the
// outcome in place of the countdown, several approvers, honest states, accessibility. Every
// test that shows a screen runs in both colour schemes.
import { expect, test, type Locator, type Page } from "@playwright/test";
import { contrast } from "../src/lib/color";
import { shot, expectNoViolations, start } from "./harness";
import { account, calm, connected, flagged, login, now, otherAccount, secondApprover, state, waitingOnOthers, wire } from "./fixtures";

/** "rgb(1, 2, 3)" / "rgba(…)" → "#010203". */
function hex(css: string): string {
  const m = css.match(/\d+(\.\d+)?/g);
  if (!m) throw new Error(`not a colour: ${css}`);
  return `#${m
    .slice(0, 3)
    .map((n) => Math.round(Number(n)).toString(16).padStart(2, "0"))
    .join("")}`;
}

async function style(locator: Locator, prop: string): Promise<string> {
  return locator.evaluate((el, p) => getComputedStyle(el).getPropertyValue(p), prop);
}

/** The colour of the nearest ancestor that paints a background (what a border is seen against). */
async function backdrop(locator: Locator): Promise<string> {
  return locator.evaluate((el) => {
    let node: Element | null = el.parentElement;
    while (node) {
      const bg = getComputedStyle(node).backgroundColor;
      if (bg && bg !== "rgba(0, 0, 0, 0)" && bg !== "transparent") return bg;
      node = node.parentElement;
    }
    return getComputedStyle(document.documentElement).backgroundColor;
  });
}

async function borderContrast(locator: Locator): Promise<number> {
  return contrast(hex(await style(locator, "border-top-color")), hex(await backdrop(locator)));
}

async function back(page: Page) {
  await page.getByTestId("back-to-list").click();
}

for (const dark of [false, true]) {
  const theme = dark ? "dark" : "light";

  test.describe(`${theme} theme`, () => {
    test("the app's strip: service, enrolled host, account, when asked; the relying party's part is labelled", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login({ created_at: now() - 45 })] }) }, { dark });
      const strip = page.getByTestId("app-strip");
      await expect(strip.getByTestId("app-name")).toHaveText("Acme Bank");
      await expect(strip.getByTestId("server-host")).toHaveText("auth.acme.example");
      await expect(strip.getByTestId("account-name")).toHaveText("ana@acme.example");
      await expect(strip.getByTestId("requested-at")).toHaveText(/^Requested \d{1,2}:\d\d( [AP]M)?, just now$/);
      await expect(page.getByTestId("rp-says")).toHaveText("Acme Bank says:");
      await expect(page.getByTestId("approving-sentence")).toHaveText(
        "Approving signs Firefox 133 on Linux, near Lisbon, Portugal (approx.), into your Acme Bank account.",
      );
      await expect(page.getByTestId("approve")).toHaveText("Approve sign-in");
      await expect(page.getByTestId("message"), "arriving focuses the message, never a button").toBeFocused();
      await expect(page.getByText("Firefox 133 on Linux"), "the browser appears once").toHaveCount(1);
      await expect(page.getByTestId("requester-ip"), "the address waits behind More").toBeHidden();
      await shot(page, "card-sign-in", dark);
      await expect(strip.getByTestId("requested-at"), "the age updates").toHaveText(/^Requested \d{1,2}:\d\d( [AP]M)?, 1 min ago$/, { timeout: 20_000 });
      await page.getByText("More", { exact: true }).click();
      await expect(page.getByTestId("requester-ip")).toHaveText("203.0.113.7");
      expectNoViolations(ui.violations);
    });

    test("an action names itself on the button; an account without a registered name shows none", async ({ page }) => {
      const nameless = wire({ account_id: "acc-2", app: otherAccount.app, account_name: null, server_host: "id.northwind.example" });
      await start(page, { state: state({ accounts: [account, otherAccount], pending: [nameless] }) }, { dark });
      await expect(page.getByTestId("approve")).toHaveText("Release $12,500");
      await expect(page.getByTestId("approving-sentence")).toHaveText(
        "Approving confirms “Release $12,500” at Northwind HR, asked from Firefox 133 on Linux, near Lisbon, Portugal (approx.).",
      );
      await expect(page.getByTestId("server-host")).toHaveText("id.northwind.example");
      await expect(page.getByTestId("account-name")).toHaveCount(0);
      await expect(page.getByText(/User \d+/), "never a bare user number").toHaveCount(0);
      await shot(page, "card-wire", dark);
    });

    test("the relying party's words are shown as text, never markup, and a long label stays inside its button", async ({ page }) => {
      const hostile = wire({
        action_label: "<img src=x onerror=alert(1)>WWWW",
        account_name: "<b>ana</b>@acme.example",
        message: "<script>window.__pwned = 1</script>Approve?",
      });
      const ui = await start(page, { state: state({ pending: [hostile] }) }, { dark });
      await expect(page.getByTestId("approve")).toHaveText("<img src=x onerror=alert(1)>WWWW");
      await expect(page.getByTestId("account-name")).toHaveText("<b>ana</b>@acme.example");
      await expect(page.getByTestId("message")).toHaveText("<script>window.__pwned = 1</script>Approve?");
      await expect(page.locator("article img[src=x], article b, article script")).toHaveCount(0);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      const [card, button] = [await page.getByTestId("approval").boundingBox(), await page.getByTestId("approve").boundingBox()];
      expect(button!.x + button!.width, "the label wraps inside the card").toBeLessThanOrEqual(card!.x + card!.width);
      expectNoViolations(ui.violations);
    });

    test("a flagged request: the app's risk band in words and an icon, Deny as heavy as Approve", async ({ page }) => {
      // A brand colour that would pass for a warning: the band must not take it.
      const loud = flagged({ app: { ...account.app, accent_color: "#ff00aa" } });
      await start(page, { state: state({ pending: [loud] }) }, { dark });
      const band = page.getByTestId("risk-band");
      await expect(band).toBeVisible();
      await expect(band).toContainText("Check this request before approving");
      await expect(band.locator(".risk-icon")).toHaveText("⚠");
      await expect(band.getByTestId("risk-signal")).toHaveText([
        "Another network than this computer as far as the service can tell",
        "No browser details were sent with this request",
        "4th request from Acme Bank in the last hour",
        "Asked 5 minutes ago",
      ]);
      await expect(page.getByTestId("facts"), "each fact once: the band carries them").toHaveCount(0);
      const warn = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--warn").trim());
      expect(hex(await style(band, "border-top-color")), "the band speaks in the app's warning colour").toBe(warn.toLowerCase());
      expect(hex(await style(band, "border-top-color"))).not.toBe("#ff00aa");
      const approve = page.getByTestId("approve");
      const deny = page.getByTestId("deny");
      expect(await style(deny, "font-weight"), "same weight").toBe(await style(approve, "font-weight"));
      const [a, d] = [await approve.boundingBox(), await deny.boundingBox()];
      expect(Math.abs(a!.width - d!.width), "same width").toBeLessThan(2);
      expect(await style(deny, "background-color"), "Deny is filled, like Approve").not.toBe(await style(page.getByTestId("back-to-list"), "background-color"));
      expect(hex(await style(deny, "background-color"))).not.toBe(hex(await backdrop(deny)));
      await expect(page.getByTestId("message"), "focus still never lands on Approve").toBeFocused();
      await shot(page, "card-flagged", dark);
    });

    test("an ordinary request has no risk band, and Approve leads", async ({ page }) => {
      await start(page, { state: state({ pending: [calm()] }) }, { dark });
      await expect(page.getByTestId("message")).toBeVisible();
      await expect(page.getByTestId("risk-band")).toHaveCount(0);
      const [a, d] = [await page.getByTestId("approve").boundingBox(), await page.getByTestId("deny").boundingBox()];
      expect(a!.width, "Approve is the wider button when nothing looks wrong").toBeGreaterThan(d!.width + 5);
    });

    test("the outcome replaces the countdown the moment a request ends", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login(), wire()] }) }, { dark });
      await expect(page.getByTestId("countdown")).toBeVisible();
      await ui.session({ kind: "resolved", id: login().id, status: "denied", decided_here: false });
      await expect(page.getByTestId("outcome")).toHaveText("Denied on another device.");
      await expect(page.getByTestId("countdown")).toHaveCount(0);
      await page.getByTestId("back").click();
      await page.getByTestId("request-item").nth(1).click();
      await page.getByTestId("number-choice").first().click();
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("flash")).toHaveText("Approved.");
      await expect(page.getByTestId("outcome")).toHaveText("Approved.");
      await expect(page.getByTestId("countdown")).toHaveCount(0);
      await expect(page.getByTestId("confirmation"), "the confirmation is on the card").toBeFocused();
      await shot(page, "card-approved", dark);
    });

    test("several approvers: who asked, each one's state, and the second approver reports as suspicious", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [secondApprover()] }) }, { dark });
      await expect(page.getByTestId("approvers").getByRole("heading")).toHaveText("Asked by Ana Silva");
      await expect(page.getByTestId("approver-state")).toHaveText(["Ana Silva approved", "You: waiting"]);
      await expect(page.getByTestId("not-me"), "not the initiator: no \"This wasn't me\"").toHaveCount(0);
      await expect(page.getByTestId("report-suspicious")).toHaveText("Report as suspicious");
      await expect(page.getByTestId("number-choices"), "only the initiator matches a number").toHaveCount(0);
      await shot(page, "card-second-approver", dark);
      // The initiator's state changes while shown: the card follows.
      const denied = secondApprover({
        approver_states: [
          { name: "Ana Silva", state: "denied", is_me: false, is_initiator: true },
          { name: "Bruno Costa", state: "waiting", is_me: true, is_initiator: false },
        ],
      });
      await ui.session({ kind: "pending", requests: [denied] });
      await expect(page.getByTestId("approver-state").first()).toHaveText("Ana Silva denied");
      await page.getByTestId("report-suspicious").click();
      await expect(page.getByTestId("not-me-report")).toContainText("Denied and reported as suspicious");
      await expect(page.getByTestId("report-told")).toHaveText("Acme Bank was told this request looks suspicious to you.");
      await expect(page.getByTestId("announcer")).toHaveText("Denied and reported as suspicious.");
      expect((await ui.calls("deny")).map((c) => c.args)).toEqual([{ id: secondApprover().id, reason: "not_me" }]);
    });

    test("a request this device approved waits under \"Waiting on others\" without Approve or Deny", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [waitingOnOthers(), login()] }) }, { dark });
      await expect(page.getByTestId("message"), "the request that needs an answer opens").toHaveText("Sign in to Acme Bank?");
      await back(page);
      await expect(page.getByTestId("request-item")).toHaveCount(1);
      await expect(page.getByTestId("pending-count")).toHaveText("1");
      const section = page.getByTestId("waiting-on-others");
      await expect(section.getByRole("heading")).toHaveText("Waiting on others");
      await expect(section).toContainText("Approve payroll run for November?");
      await expect(section).toContainText("You approved; waiting for the other approvers");
      await expect(section.getByTestId("approve")).toHaveCount(0);
      await shot(page, "list-waiting-on-others", dark);
      await section.getByTestId("waiting-item").click();
      await expect(page.getByTestId("my-answer")).toHaveText("You approved. Waiting for the other approvers.");
      await expect(page.getByTestId("approve")).toHaveCount(0);
      await expect(page.getByTestId("deny")).toHaveCount(0);
      await expect(page.getByTestId("approver-state")).toHaveText(["You approved", "Bruno Costa: waiting"]);
      await shot(page, "card-waiting-on-others", dark);
      await back(page);
      // It resolves: it leaves the section.
      await ui.session({ kind: "resolved", id: waitingOnOthers().id, status: "approved", decided_here: false });
      await ui.session({ kind: "pending", requests: [login()] });
      await expect(section).toHaveCount(0);
    });

    test("approving one of two moves it under \"Waiting on others\"", async ({ page }) => {
      const ui = await start(
        page,
        { state: state({ pending: [wire()] }), answers: { approve: { id: wire().id, status: "pending", frozen_until: null } } },
        { dark },
      );
      await page.getByTestId("number-choice").nth(2).click();
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("flash")).toHaveText("Approved. Waiting for the other approvers.");
      await expect(page.getByTestId("countdown"), "still waiting: the time left stays").toBeVisible();
      await ui.session({ kind: "pending", requests: [wire({ my_answer: "approve" })] });
      await page.getByTestId("back").click();
      await expect(page.getByTestId("waiting-on-others")).toContainText("Approve wire transfer");
      await expect(page.getByTestId("request-item")).toHaveCount(0);
      await expect(page.getByTestId("no-requests")).toContainText("Nothing is waiting for you.");
    });

    test("\"Approving…\" while the answer travels, the confirmation after; \"Denying…\" likewise", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login(), calm({ id: "77777777-7777-4777-8777-777777777777" })] }), delays: { approve: 1500, deny: 1500 } }, { dark });
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("approve")).toHaveText("Approving…");
      await expect(page.getByTestId("approve")).toBeDisabled();
      await expect(page.getByTestId("deny")).toBeDisabled();
      await expect(page.getByTestId("flash"), "nothing claims success before the service answered").toHaveCount(0);
      await shot(page, "card-approving", dark);
      await expect(page.getByTestId("flash")).toHaveText("Approved.");
      await page.getByTestId("back").click();
      await page.getByTestId("request-item").nth(1).click();
      await page.getByTestId("deny").click();
      await expect(page.getByTestId("deny")).toHaveText("Denying…");
      await expect(page.getByTestId("flash")).toHaveText("Denied.");
      expect((await ui.calls("deny")).map((c) => c.args.reason)).toEqual(["cancelled"]);
    });

    test("a failed answer says it was not sent, with the next step for its code", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login()] }) }, { dark });
      await ui.fail("approve", "network", "connection refused (os error 111)");
      await page.getByTestId("approve").click();
      const notSent = page.getByTestId("answer-not-sent");
      await expect(notSent).toHaveAttribute("data-code", "network");
      await expect(notSent).toContainText("Your answer was not sent.");
      await expect(notSent).toContainText("Cannot reach the service");
      await expect(notSent.getByTestId("next-step")).toHaveText(
        "The request is still waiting: answer again once the service can be reached, or sign in another way.",
      );
      await expect(notSent, "the message text is never shown or switched on").not.toContainText("os error");
      await expect(page.getByTestId("flash")).toHaveCount(0);
      await expect(page.getByTestId("approve"), "the person can answer again").toBeEnabled();
      await shot(page, "card-answer-not-sent", dark);
      await ui.fail("approve", "verification_unavailable");
      await page.getByTestId("approve").click();
      await expect(notSent).toHaveAttribute("data-code", "verification_unavailable");
      await expect(notSent).toContainText("Deny the request, or approve it on a device that can confirm it is you.");
      // A wrong code did reach the service: not "not sent".
      await ui.fail("approve", "already_decided");
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("error")).toHaveAttribute("data-code", "already_decided");
      await expect(notSent).toHaveCount(0);
    });

    test("offline: the banner's Retry now reconnects at once; connection changes are announced", async ({ page }) => {
      const ui = await start(page, { state: state() }, { dark });
      await expect(page.getByTestId("no-requests")).toBeVisible();
      await ui.session({ kind: "connection", connection: { account_id: "acc-1", state: { state: "offline" }, last_contact_at_ms: Date.now() - 90_000 } });
      await expect(page.getByTestId("offline-banner")).toContainText("Can't reach Acme Bank");
      await expect(page.getByTestId("announcer")).toHaveText("Can't reach Acme Bank: new requests from it can't arrive.");
      await expect(page.getByTestId("announcer")).toHaveAttribute("aria-live", "polite");
      await shot(page, "offline", dark);
      await page.getByTestId("retry-now").click();
      expect(await ui.calls("reconnect_now")).toEqual([{ cmd: "reconnect_now", args: { account_id: null } }]);
      await ui.fail("reconnect_now", "internal");
      await page.getByTestId("retry-now").click();
      await expect(page.getByTestId("retry-error")).toHaveAttribute("data-code", "internal");
      await ui.session({ kind: "connection", connection: connected("acc-1") });
      await expect(page.getByTestId("announcer")).toHaveText("Connected to Acme Bank again.");
      await expect(page.getByTestId("offline-banner")).toHaveCount(0);
    });

    test("number choices are a radio group: arrow keys move and pick, one tab stop", async ({ page }) => {
      await start(page, { state: state({ pending: [wire()] }) }, { dark });
      const choices = page.getByTestId("number-choice");
      await expect(page.getByRole("radiogroup")).toHaveAccessibleName("Which number do you see where you signed in?");
      await expect(choices.nth(0)).toHaveAttribute("tabindex", "0");
      await expect(choices.nth(1)).toHaveAttribute("tabindex", "-1");
      await choices.nth(0).focus();
      await page.keyboard.press("ArrowRight");
      await expect(choices.nth(1)).toBeFocused();
      await expect(choices.nth(1)).toHaveAttribute("aria-checked", "true");
      await expect(choices.nth(1)).toHaveAttribute("tabindex", "0");
      await expect(choices.nth(0)).toHaveAttribute("tabindex", "-1");
      await page.keyboard.press("ArrowDown");
      await expect(choices.nth(2)).toHaveAttribute("aria-checked", "true");
      await page.keyboard.press("ArrowRight");
      await expect(choices.nth(0), "wraps around").toBeFocused();
      await page.keyboard.press("ArrowLeft");
      await expect(choices.nth(2)).toHaveAttribute("aria-checked", "true");
      await expect(choices.nth(0)).toHaveAttribute("aria-checked", "false");
      await shot(page, "card-number-picked", dark);
    });

    test("control borders and the picked state contrast 3:1 or more", async ({ page }) => {
      await start(page, { state: state({ pending: [wire()] }) }, { dark });
      await page.getByTestId("number-choice").nth(1).click();
      const picked = page.getByTestId("number-choice").nth(1);
      const unpicked = page.getByTestId("number-choice").nth(0);
      for (const [name, control] of [
        ["an unpicked choice", unpicked],
        ["the picked choice", picked],
        ["Deny", page.getByTestId("deny")],
        ["This wasn't me", page.getByTestId("not-me")],
      ] as const) {
        expect(await borderContrast(control), `${name}'s border against its background`).toBeGreaterThanOrEqual(3);
      }
      // Not colour alone: the picked one has a thicker border and a filled background.
      expect(await style(picked, "border-top-width")).toBe("3px");
      expect(await style(unpicked, "border-top-width")).toBe("1px");
      expect(await style(picked, "background-color")).not.toBe(await style(unpicked, "background-color"));
    });

    test("service colours and logos are adjusted for the theme; badges are labelled", async ({ page }) => {
      // A navy brand colour fails 3:1 on the dark surface; it must be lightened there.
      const navy = { name: "Navy Trust", accent_color: "#0f3b7f", logo: null };
      await start(page, { state: state({ pending: [login(), wire({ app: navy })] }) }, { dark });
      await back(page);
      const item = page.getByTestId("request-item").nth(1);
      const edge = hex(await style(item, "border-left-color"));
      expect(contrast(edge, hex(await style(item, "background-color"))), `${edge} on the card`).toBeGreaterThanOrEqual(3);
      if (!dark) expect(edge, "kept as given where it already contrasts").toBe("#0f3b7f");
      const placeholder = item.getByTestId("logo-placeholder");
      expect(
        contrast(hex(await style(placeholder, "color")), hex(await style(placeholder, "background-color"))),
        "the placeholder's letter reads on its colour",
      ).toBeGreaterThanOrEqual(4.5);
      const logo = page.getByTestId("request-item").nth(0).getByTestId("logo");
      const plate = hex(await style(logo, "background-color"));
      if (dark) expect(contrast(plate, "#000000"), "a light plate behind the logo in dark").toBeGreaterThan(15);
      await expect(page.getByTestId("pending-count")).toHaveAttribute("aria-label", "2 waiting for you");
      await expect(page.getByTestId("connection")).toContainText("Connected");
      await shot(page, "list-adjusted-colours", dark);
    });

    test("accounts name the person as registered and the enrolled host, never a bare user number", async ({ page }) => {
      await start(page, { state: state({ accounts: [account, otherAccount] }) }, { dark });
      await page.getByTestId("tab-accounts").click();
      const cards = page.getByTestId("account");
      await expect(cards.nth(0).getByTestId("account-person")).toHaveText("ana@acme.example");
      await expect(cards.nth(0).getByTestId("account-host")).toHaveText("auth.acme.example");
      await expect(cards.nth(1).getByTestId("account-person"), "no registered name: nothing").toHaveCount(0);
      await expect(cards.nth(1).getByTestId("account-host")).toHaveText("id.northwind.example");
      await expect(page.getByText(/User \d+/)).toHaveCount(0);
    });
  });
}
