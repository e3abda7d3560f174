import { expect, test } from "@playwright/test";
import { EVENTS } from "../src/lib/generated/ipc";
import type { ErrorKind } from "../src/lib/types";
import { expectNoViolations, shot, start } from "./harness";
import { account, connected, history, login, now, otherAccount, state, typedLogin, updateAvailable, wire } from "./fixtures";

for (const dark of [false, true]) {
  const theme = dark ? "dark" : "light";

  test.describe(`${theme} theme`, () => {
    // Onboarding (paste, deep link, preview, phrase, warnings): tests/enroll.spec.ts.

    test("a link never interrupts an approval in progress", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login()] }) }, { dark });
      await expect(page.getByTestId("message")).toHaveText("Sign in to Acme Bank?");
      const link = "assent://enroll?server=https%3A%2F%2Fevil.example&token=abcdefghijklmnopqrstuvwx";
      await ui.emit(EVENTS.enrollLink, { link, host: "evil.example", server: "https://evil.example/", insecure: false });
      await expect(page.getByTestId("held-link")).toBeVisible();
      await expect(page.getByTestId("message"), "the approval stays on screen").toHaveText("Sign in to Acme Bank?");
      await expect(page.getByTestId("approve")).toBeVisible();
      await page.getByRole("button", { name: "Back to all requests" }).click();
      await expect(page.getByTestId("offered-host")).toHaveText("evil.example");
      expect(await ui.calls("enroll")).toEqual([]);
    });

    test("the pending list shows every waiting request", async ({ page }) => {
      const ui = await start(page, { state: state({ accounts: [account, otherAccount], pending: [] }) }, { dark });
      await expect(page.getByTestId("no-requests")).toBeVisible();
      await shot(page, "requests-empty", dark);
      const second = login({
        id: "33333333-3333-4333-8333-333333333333",
        account_id: "acc-2",
        app: otherAccount.app,
        message: "Approve payroll run for November?",
        details: [],
        requester: null,
      });
      // The first arrival opens; going back shows the list.
      await ui.session({ kind: "pending", requests: [login(), wire(), second] });
      await expect(page.getByTestId("message")).toHaveText("Sign in to Acme Bank?");
      await page.getByRole("button", { name: "Back to all requests" }).click();
      const items = page.getByTestId("request-item");
      await expect(items).toHaveCount(3);
      await expect(page.getByTestId("pending-count")).toHaveText("3");
      await expect(items.nth(2).getByTestId("logo-placeholder")).toHaveText("N");
      await shot(page, "requests-list", dark);
      expectNoViolations(ui.violations);
    });

    test("the approval view shows branding, details, requester and countdown; approve", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login()] }) }, { dark });
      await expect(page.getByTestId("app-name")).toHaveText("Acme Bank");
      await expect(page.getByTestId("logo")).toHaveAttribute("src", /^data:image\/png;base64,/);
      await expect(page.getByTestId("message")).toBeFocused();
      const details = page.getByTestId("details").first();
      // The browser line the relying party repeats is shown once, in the app's sentence.
      await expect(details.locator("dt")).toHaveText(["Username"]);
      await expect(details.locator("dd")).toHaveText(["ana"]);
      await expect(page.getByTestId("approving-sentence")).toContainText("Firefox 133 on Linux, near Lisbon, Portugal (approx.)");
      const requester = page.getByTestId("requester");
      await expect(requester, "the address waits behind More").toBeHidden();
      await page.getByText("More", { exact: true }).click();
      await expect(requester).toContainText("203.0.113.7");
      // "tomorrow" when the test runs in the five minutes before midnight.
      await expect(page.getByTestId("countdown")).toContainText(/^Expires (tomorrow )?at \d/);
      await shot(page, "approval-login", dark);
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("flash")).toHaveText("Approved.");
      expect(await ui.calls("approve")).toEqual([{ cmd: "approve", args: { id: login().id, answer: null } }]);
      expectNoViolations(ui.violations);
    });

    test("number matching needs the right pick before approving", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [wire()] }), answers: { approve: { id: wire().id, status: "pending", frozen_until: null } } }, { dark });
      await expect(page.getByTestId("number-choices")).toBeVisible();
      await expect(page.getByTestId("number-choice")).toHaveText(["27", "64", "93"]);
      await expect(page.getByTestId("quorum")).toHaveText("Needs 2 of 2 approvers.");
      await expect(page.getByTestId("approve")).toBeDisabled();
      await shot(page, "approval-wire-number-matching", dark);
      await page.getByTestId("number-choice").nth(1).click();
      await expect(page.getByTestId("number-choice").nth(1)).toHaveAttribute("aria-checked", "true");
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("flash")).toHaveText("Approved. Waiting for the other approvers.");
      expect((await ui.calls("approve"))[0].args).toEqual({ id: wire().id, answer: { number: 64 } });
    });

    test("typed mode: one numeric field, digits only, Approve only with the whole code", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [typedLogin()] }) }, { dark });
      const field = page.getByTestId("code-input");
      await expect(page.getByTestId("message"), "arriving focuses the message, never a control").toBeFocused();
      await expect(field).toHaveAttribute("inputmode", "numeric");
      await expect(field).toHaveAttribute("autocomplete", "off");
      await expect(field).toHaveAttribute("maxlength", "4");
      await expect(page.getByText("Type the 4-digit code shown where you signed in")).toBeVisible();
      await expect(page.getByTestId("number-choices"), "no choices in typed mode").toHaveCount(0);
      await expect(page.getByTestId("approve")).toBeDisabled();
      await field.click();
      await page.keyboard.type("0a4-2");
      await expect(field, "only digits are kept").toHaveValue("042");
      await page.keyboard.press("Enter");
      expect(await ui.calls("approve"), "Enter with an incomplete code does not approve").toEqual([]);
      await expect(page.getByTestId("approve")).toBeDisabled();
      await page.keyboard.type("79");
      await expect(field, "no more digits than the code has").toHaveValue("0427");
      await expect(field, "typing the last digit leaves focus in the field, not on Approve").toBeFocused();
      await expect(page.getByTestId("approve")).toBeEnabled();
      await shot(page, "approval-typed-code", dark);
      await page.keyboard.press("Enter");
      await expect(page.getByTestId("flash")).toHaveText("Approved.");
      expect(await ui.calls("approve")).toEqual([{ cmd: "approve", args: { id: typedLogin().id, answer: { code: "0427" } } }]);
      expectNoViolations(ui.violations);
    });

    test("typed mode: a wrong code shows the service's message and clears the field", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [typedLogin()] }) }, { dark });
      await ui.fail("approve", "wrong_code", "That is not the code shown. 2 tries left; after that the request is denied.");
      const field = page.getByTestId("code-input");
      await field.fill("1234");
      await page.getByTestId("approve").click();
      const banner = page.getByTestId("error");
      await expect(banner).toHaveAttribute("data-code", "wrong_code");
      await expect(banner).toHaveText("That is not the code shown. 2 tries left; after that the request is denied.");
      await expect(field, "the field is cleared for the next try").toHaveValue("");
      await expect(field).toBeFocused();
      await expect(field).toHaveAttribute("aria-invalid", "true");
      await expect(page.getByTestId("approve")).toBeDisabled();
      await expect(page.getByTestId("message"), "the request is still on screen").toHaveText("Sign in to Acme Bank?");
      await shot(page, "approval-typed-code-wrong", dark);
      await ui.succeed("approve");
      await field.fill("0427");
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("flash")).toHaveText("Approved.");
      expect((await ui.calls("approve")).map((c) => c.args.answer)).toEqual([{ code: "1234" }, { code: "0427" }]);
    });

    test("the service's facts: a burst stands out, the network is a hint", async ({ page }) => {
      await start(page, { state: state({ pending: [typedLogin()] }) }, { dark });
      await expect(page.getByTestId("fact-requests")).toHaveText("3rd request from Acme Bank in the last hour");
      await expect(page.getByTestId("fact-requests")).toHaveAttribute("data-burst", "true");
      const network = page.getByTestId("fact-network");
      await expect(network).toContainText("Same network as this computer");
      await expect(network).toContainText("as far as the service can tell");
      await expect(network).toHaveAttribute("title", /As far as the service can tell/);
      await shot(page, "approval-facts", dark);
    });

    test("after \"This wasn't me\" the app says what happened, until when, and what to do", async ({ page }) => {
      const frozenUntil = now() + 20 * 60;
      const ui = await start(
        page,
        { state: state({ pending: [login()] }), answers: { deny: { id: login().id, status: "denied", frozen_until: frozenUntil } } },
        { dark },
      );
      await page.getByTestId("not-me").click();
      const report = page.getByTestId("not-me-report");
      await expect(report).toBeVisible();
      await expect(page.getByTestId("report-told")).toContainText("Acme Bank was told");
      // Twenty minutes ahead is tomorrow when the test runs just before midnight: the app then
      // names the date too.
      const end = new Date(frozenUntil * 1000);
      const time = end.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
      const until = end.toDateString() === new Date().toDateString()
        ? time
        : `${end.toLocaleDateString(undefined, { day: "numeric", month: "short" })}, ${time}`;
      await expect(page.getByTestId("report-frozen")).toHaveText(`New requests from Acme Bank are blocked until ${until}, so you are not asked again.`);
      await expect(page.getByTestId("report-next")).toContainText("someone may know your Acme Bank password: change it");
      await shot(page, "not-me-report", dark);
      expect((await ui.calls("deny")).map((c) => c.args.reason)).toEqual(["not_me"]);
      await page.getByTestId("report-dismiss").click();
      await expect(report).toHaveCount(0);
      expectNoViolations(ui.violations);
    });

    test("deny with a reason: not me, and cancelled", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login(), wire()] }) }, { dark });
      await page.getByTestId("not-me").click();
      await expect(page.getByTestId("not-me-report")).toContainText("Denied and reported as not you");
      await expect(page.getByTestId("report-frozen"), "no freeze is claimed when the service froze nothing").toHaveCount(0);
      await page.getByTestId("request-item").nth(1).click();
      await expect(page.getByTestId("message")).toHaveText("Approve wire transfer of $12,500 to ACME Corp?");
      await page.getByTestId("deny").click();
      await expect(page.getByTestId("flash")).toHaveText("Denied.");
      expect((await ui.calls("deny")).map((c) => c.args.reason)).toEqual(["not_me", "cancelled"]);
    });

    test("expiry reads as a time, and ticks only in the last two minutes", async ({ page }) => {
      const soon = login({ expires_at: now() + 90 });
      await start(page, { state: state({ pending: [soon] }) }, { dark });
      await expect(page.getByTestId("countdown")).toContainText(/^Expires in 1:[0-3]\d Expires in about 2 minutes$/);
      const far = login({ expires_at: now() + 86_400 });
      await start(page, { state: state({ pending: [far] }) }, { dark });
      await expect(page.getByTestId("countdown")).toContainText(/^Expires tomorrow at \d/);
      await expect(page.getByTestId("countdown")).not.toContainText(/\d:\d\d:\d\d/);
    });

    test("the countdown reaching expiry closes the request", async ({ page }) => {
      // A few seconds of life: enough for the page to show the ticking countdown first, even on a
      // loaded machine (the countdown itself is gone once the request ended).
      const ui = await start(page, { state: state({ pending: [login({ expires_at: now() + 6 })] }) }, { dark });
      await expect(page.getByTestId("countdown")).toContainText(/Expires in 0:0[0-6]/);
      await expect(page.getByTestId("resolved-note")).toHaveText("This request expired.", { timeout: 10_000 });
      await expect(page.getByTestId("approve")).toHaveCount(0);
      await expect(page.getByTestId("countdown"), "the countdown is replaced by the outcome").toHaveCount(0);
      await expect(page.getByTestId("outcome")).toHaveText("Expired");
      await shot(page, "approval-expired", dark);
      expect(await ui.calls("approve")).toEqual([]);
    });

    test("a request decided elsewhere or cancelled leaves with an explanation", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login(), wire()] }) }, { dark });
      await expect(page.getByTestId("message")).toHaveText("Sign in to Acme Bank?");
      await ui.session({ kind: "resolved", id: login().id, status: "approved", decided_here: false });
      await ui.session({ kind: "pending", requests: [wire()] });
      await expect(page.getByTestId("resolved-note")).toHaveText("Approved on another device.");
      await shot(page, "approval-resolved-elsewhere", dark);
      await page.getByTestId("back").click();
      await expect(page.getByTestId("request-item")).toHaveCount(1);
      await page.getByTestId("request-item").first().click();
      await expect(page.getByTestId("message")).toHaveText("Approve wire transfer of $12,500 to ACME Corp?");
      await ui.session({ kind: "resolved", id: wire().id, status: "cancelled", decided_here: false });
      await expect(page.getByTestId("resolved-note")).toHaveText("Acme Bank cancelled this request.");
    });

    test("history lists past decisions", async ({ page }) => {
      const ui = await start(page, { state: state(), history }, { dark });
      await page.getByTestId("tab-history").click();
      const items = page.getByTestId("history-item");
      await expect(items).toHaveCount(3);
      await expect(items.nth(0)).toContainText("Approved");
      await expect(items.nth(1)).toContainText("Denied: not me");
      await expect(items.nth(2)).toContainText("Northwind HR");
      await shot(page, "history", dark);
      expectNoViolations(ui.violations);
    });

    test("accounts show branding and connection, and can be removed", async ({ page }) => {
      const revoked = { ...otherAccount, id: "acc-3", app: { ...otherAccount.app, name: "Old Corp" }, revoked: true };
      const lastContact = Date.now() - 65_000;
      const ui = await start(
        page,
        {
          state: state({
            accounts: [account, otherAccount, revoked],
            connections: [
              connected("acc-1"),
              {
                account_id: "acc-2",
                // Far enough ahead that a slow page start (a loaded machine) still sees it ahead.
                state: { state: "reconnecting", attempt: 3, next_try_at_ms: Date.now() + 9_500 },
                last_contact_at_ms: lastContact,
              },
            ],
          }),
        },
        { dark },
      );
      await page.getByTestId("tab-accounts").click();
      const cards = page.getByTestId("account");
      await expect(cards).toHaveCount(3);
      await expect(cards.nth(0).getByTestId("connection-label")).toHaveText("Connected");
      await expect(cards.nth(0).getByTestId("last-contact")).toHaveText(/^· Last contact \d\d:\d\d:\d\d$/);
      const retry = cards.nth(1).getByTestId("connection-label");
      await expect(retry).toHaveText(/^Reconnecting in [1-9] s$/);
      const first = await retry.textContent();
      await expect(retry, "the next try counts down").not.toHaveText(first ?? "");
      const contact = new Date(lastContact);
      const hhmmss = [contact.getHours(), contact.getMinutes(), contact.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
      await expect(cards.nth(1).getByTestId("last-contact")).toHaveText(`· Last contact ${hhmmss}`);
      await expect(cards.nth(2).getByTestId("account-revoked")).toBeVisible();
      await expect(page.locator("header").getByTestId("connection")).toHaveAttribute("data-state", "reconnecting");
      await shot(page, "accounts", dark);
      await cards.nth(1).getByTestId("remove-account").click();
      await cards.nth(1).getByTestId("confirm-remove").click();
      expect((await ui.calls("remove_account"))[0].args).toEqual({ account_id: "acc-2" });
      await ui.session({ kind: "accounts", accounts: [account, revoked] });
      await expect(cards).toHaveCount(2);
      await expect(page.getByTestId("account-name")).toHaveText(["Acme Bank", "Old Corp"]);
      await ui.session({ kind: "connection", connection: { account_id: "acc-1", state: { state: "offline" }, last_contact_at_ms: lastContact } });
      await expect(cards.nth(0).getByTestId("connection-label")).toHaveText("Offline");
    });

    test("settings: start at login, pause notifications, theme", async ({ page }) => {
      const ui = await start(page, { state: state() }, { dark });
      await page.getByTestId("tab-settings").click();
      await page.getByTestId("autostart").check();
      await expect(page.getByTestId("autostart")).toBeChecked();
      await page.getByTestId("pause-notifications").check();
      await expect(page.getByTestId("pause-notifications")).toBeChecked();
      const calls = await ui.calls("set_settings");
      expect(calls.map((c) => c.args.settings)).toEqual([
        { autostart: true, notifications_paused: false, check_for_updates: true, verify_every_approval: false },
        { autostart: true, notifications_paused: true, check_for_updates: true, verify_every_approval: false },
      ]);
      await expect(page.locator("html"), "following the system").toHaveAttribute("data-theme", theme);
      await page.getByTestId(`theme-${dark ? "light" : "dark"}`).check();
      await expect(page.locator("html")).toHaveAttribute("data-theme", dark ? "light" : "dark");
      await page.getByTestId(`theme-${theme}`).check();
      await shot(page, "settings", dark);
    });

    test("an update is offered and installed on the person's click", async ({ page }) => {
      const ui = await start(page, { state: state(), update: updateAvailable() }, { dark });
      await expect(page.getByTestId("update-title")).toHaveText("Update available");
      await expect(page.getByTestId("update-versions")).toHaveText("Assent 0.2.0 (you have 0.1.0)");
      expect(await ui.calls("install_update"), "nothing is installed before the click").toEqual([]);
      await shot(page, "update-available", dark);
      await page.getByTestId("install-update").click();
      expect(await ui.calls("install_update")).toEqual([{ cmd: "install_update", args: {} }]);
      await ui.emit(EVENTS.update, updateAvailable({ state: { state: "installing", version: "0.2.0" } }));
      await expect(page.getByTestId("update-title")).toHaveText("Installing Assent 0.2.0…");
      await expect(page.getByTestId("install-update")).toHaveCount(0);
      expectNoViolations(ui.violations);
    });
  });
}

test("an update waits while a request is pending", async ({ page }) => {
  const ui = await start(page, { state: state({ pending: [login()] }), update: updateAvailable() });
  await page.getByTestId("tab-requests").click();
  await expect(page.getByTestId("install-update")).toBeDisabled();
  await expect(page.getByTestId("update-waits")).toHaveText("Answer the waiting request first; the update can wait.");
  expect(await ui.calls("install_update")).toEqual([]);
  await ui.session({ kind: "pending", requests: [] });
  await expect(page.getByTestId("install-update")).toBeEnabled();
});

test("an update that fails its signature check is refused with a clear message", async ({ page }) => {
  const ui = await start(page, { state: state(), update: updateAvailable() });
  await ui.fail("install_update", "update_signature_invalid");
  await page.getByTestId("install-update").click();
  await expect(page.getByTestId("update-error")).toHaveAttribute("data-code", "update_signature_invalid");
  await expect(page.getByTestId("update-error")).toHaveText(
    "The update did not pass its signature check, so it was not installed. Assent keeps running the version you have.",
  );
  await expect(page.getByTestId("install-update"), "the person may try again").toBeEnabled();
});

test("About shows the version; update checks are a setting; Check now", async ({ page }) => {
  const ui = await start(page, {
    state: state(),
    update: { current_version: "0.1.0", state: { state: "idle" }, last_checked_at: now() - 60, error: null },
  });
  await page.getByTestId("tab-settings").click();
  await expect(page.getByTestId("about-line")).toHaveText("Assent 0.1.0");
  await expect(page.getByTestId("update-status")).toContainText("Up to date");
  await expect(page.getByTestId("check-for-updates")).toBeChecked();
  await page.getByTestId("check-for-updates").uncheck();
  expect((await ui.calls("set_settings")).map((c) => c.args.settings)).toEqual([
    { autostart: false, notifications_paused: false, check_for_updates: false, verify_every_approval: false },
  ]);
  await ui.fail("check_update", "update_unavailable");
  await page.getByTestId("check-update").click();
  await expect(page.getByTestId("check-error")).toHaveAttribute("data-code", "update_unavailable");
  await shot(page, "about");
});

test("Enter never approves; Escape goes back", async ({ page }) => {
  const ui = await start(page, { state: state({ pending: [login()] }) });
  await expect(page.getByTestId("message")).toBeFocused();
  await page.keyboard.press("Enter");
  await page.keyboard.press("Space");
  await expect(page.getByTestId("message"), "the request is still on screen, undecided").toHaveText("Sign in to Acme Bank?");
  await expect(page.getByTestId("flash")).toHaveCount(0);
  expect(await ui.calls("approve"), "arriving and pressing Enter must not approve").toEqual([]);
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("request-item")).toHaveCount(1);
  expect(await ui.calls("approve")).toEqual([]);
});

test("facts: the only request, another network, or no network line when the service could not tell", async ({ page }) => {
  const other = typedLogin({ facts: { requests_last_hour: 1, network: "other" } });
  const unknown = wire({ facts: { requests_last_hour: 22, network: "unknown" } });
  const ui = await start(page, { state: state({ pending: [other, unknown] }) });
  await expect(page.getByTestId("fact-requests")).toHaveText("The only request from Acme Bank in the last hour");
  await expect(page.getByTestId("fact-requests")).toHaveAttribute("data-burst", "false");
  await expect(page.getByTestId("fact-network")).toContainText("Another network than this computer");
  await page.getByTestId("back-to-list").click();
  await page.getByTestId("request-item").nth(1).click();
  await expect(page.getByTestId("fact-requests")).toHaveText("22nd request from Acme Bank in the last hour");
  await expect(page.getByTestId("fact-network"), "no claim about a network the service did not see").toHaveCount(0);
  await page.getByTestId("back-to-list").click();
  await page.getByTestId("request-item").nth(0).click();
  await expect(page.getByTestId("code-input")).toBeVisible();
  await page.keyboard.press("Enter");
  expect(await ui.calls("approve"), "Enter on arrival does not approve a typed-code request").toEqual([]);
  await page.getByTestId("back-to-list").click();
});

test("a request without facts shows no facts", async ({ page }) => {
  await start(page, { state: state({ pending: [login()] }) });
  await expect(page.getByTestId("message")).toBeVisible();
  await expect(page.getByTestId("facts")).toHaveCount(0);
});

test("a missing or broken logo falls back to the placeholder", async ({ page }) => {
  const broken = { ...account.app, logo: "data:image/png;base64,AAAA" };
  await start(page, { state: state({ pending: [login({ app: { ...account.app, logo: null } }), wire({ app: broken })] }) });
  await expect(page.getByTestId("logo-placeholder")).toHaveText("A");
  await page.getByRole("button", { name: "Back to all requests" }).click();
  await page.getByTestId("request-item").nth(1).click();
  await expect(page.getByTestId("logo-placeholder")).toBeVisible();
});

test("a new request arriving while idle opens it and is announced", async ({ page }) => {
  const ui = await start(page, { state: state() });
  await expect(page.getByTestId("no-requests")).toBeVisible();
  await ui.session({ kind: "pending", requests: [login()] });
  await expect(page.getByTestId("message")).toHaveText("Sign in to Acme Bank?");
  await expect(page.getByTestId("announcer")).toHaveText("New request from Acme Bank.");
  // A second one arrives while the first is open: it is announced, and the first stays.
  await ui.session({ kind: "pending", requests: [login(), wire({ app: otherAccount.app, account_id: "acc-2" })] });
  await expect(page.getByTestId("announcer")).toHaveText("New request from Northwind HR.");
  await expect(page.getByTestId("message")).toHaveText("Sign in to Acme Bank?");
  await expect(page.getByTestId("pending-count")).toHaveText("2");
  // Its notification is clicked: it comes forward.
  await ui.emit(EVENTS.openRequest, wire().id);
  await expect(page.getByTestId("message")).toHaveText("Approve wire transfer of $12,500 to ACME Corp?");
  await expect(page.getByTestId("app-name")).toHaveText("Northwind HR");
});

test("a link that stops answering shows reconnecting, the next try and the last contact", async ({ page }) => {
  const ui = await start(page, { state: state() });
  const badge = page.locator("header").getByTestId("connection");
  await expect(badge).toHaveText("Connected");
  const lastContact = Date.now() - 61_000;
  await ui.session({
    kind: "connection",
    connection: { account_id: "acc-1", state: { state: "reconnecting", attempt: 1, next_try_at_ms: Date.now() + 2_500 }, last_contact_at_ms: lastContact },
  });
  await expect(badge).toHaveAttribute("data-state", "reconnecting");
  await expect(badge.getByTestId("connection-label")).toHaveText(/^Reconnecting in [23] s$/);
  // The empty list does not reassure: requests cannot arrive.
  await expect(page.getByTestId("offline-banner")).toContainText("Can't reach Acme Bank");
  await expect(page.getByTestId("offline-banner")).toContainText("can't arrive");
  await expect(page.getByTestId("no-requests")).toHaveCount(0);
  await expect(badge.getByTestId("last-contact")).toHaveText(/^· Last contact \d\d:\d\d:\d\d$/);
  await expect(badge.getByTestId("connection-label"), "the countdown reaches the try").toHaveText("Reconnecting in 0 s", { timeout: 5_000 });
  await ui.session({
    kind: "connection",
    connection: { account_id: "acc-1", state: { state: "reconnecting", attempt: 1, next_try_at_ms: null }, last_contact_at_ms: lastContact },
  });
  await expect(badge.getByTestId("connection-label")).toHaveText("Reconnecting now…");
  await shot(page, "reconnecting", false);
  await ui.session({ kind: "connection", connection: connected("acc-1") });
  await expect(badge).toHaveText("Connected");
  await expect(badge.getByTestId("last-contact")).toHaveCount(0);
  await expect(page.getByTestId("offline-banner")).toHaveCount(0);
  await expect(page.getByTestId("no-requests")).toContainText("Nothing is waiting for you.");
});

test("pausing notifications from the tray shows in Settings", async ({ page }) => {
  const ui = await start(page, { state: state() });
  await page.getByTestId("tab-settings").click();
  await expect(page.getByTestId("pause-notifications")).not.toBeChecked();
  await ui.session({
    kind: "settings",
    settings: { notifications_paused: true, check_for_updates: true, code_digits: 6, verify_every_approval: false },
  });
  await expect(page.getByTestId("pause-notifications")).toBeChecked();
});

test("a request that requires verification says the system will ask, and a refusal leaves it waiting with the next step", async ({
  page,
}) => {
  const required = login({ verification_required: true });
  const ui = await start(page, { state: state({ pending: [required] }) });
  await expect(page.getByTestId("verification-note")).toContainText("your system will ask for your password");
  await ui.fail("approve", "verification_refused");
  await page.getByTestId("approve").click();
  const banner = page.getByTestId("error");
  await expect(banner).toHaveAttribute("data-code", "verification_refused");
  await expect(banner).toContainText("The request is still waiting: choose Approve again and enter your password");
  await expect(page.getByTestId("approve"), "the request can still be approved or denied").toBeEnabled();
  await expect(page.getByTestId("deny")).toBeEnabled();
  await shot(page, "approval-verification-refused");
});

test("asking for the password before every approval is a setting, and the approval view says so", async ({ page }) => {
  const ui = await start(page, { state: state({ pending: [login()] }) });
  await expect(page.getByTestId("message")).toBeVisible();
  await expect(page.getByTestId("verification-note"), "no note while nothing asks").toHaveCount(0);
  await page.getByTestId("tab-settings").click();
  await page.getByTestId("verify-every-approval").check();
  await expect(page.getByTestId("verify-every-approval")).toBeChecked();
  expect((await ui.calls("set_settings")).map((c) => c.args.settings)).toEqual([
    { autostart: false, notifications_paused: false, check_for_updates: true, verify_every_approval: true },
  ]);
  await shot(page, "settings-verify-every-approval");
  await page.getByTestId("tab-requests").click();
  await page.getByTestId("request-item").first().click();
  await expect(page.getByTestId("verification-note")).toContainText("(your setting)");
});

const codes: [ErrorKind, string][] = [
  ["keychain_unavailable", "Your system keychain is not available"],
  ["keychain_error", "Your system keychain refused"],
  ["key_missing", "key is missing from your keychain"],
  ["network", "Cannot reach the service"],
  ["clock_skew", "clock is off"],
  ["not_pending", "no longer waiting for you"],
  ["request_not_found", "no longer waiting for you"],
  ["already_decided", "You already answered"],
  ["wrong_number", "not the number or code shown"],
  ["wrong_code", "mock wrong_code"],
  ["invalid_number", "Pick the number or type the whole code"],
  ["revoked", "This device was removed"],
  ["service_error", "The service could not handle"],
  ["protocol_error", "The service could not handle"],
  ["storage_error", "data folder"],
  ["invalid_setting", "settings has a value it cannot use"],
  ["verification_refused", "did not confirm it is you"],
  ["verification_unavailable", "cannot ask for your password"],
  ["verification_failed", "Confirming it is you failed"],
  ["internal", "Something went wrong"],
];

test("every decision error code is shown as a clear message", async ({ page }) => {
  const ui = await start(page, { state: state({ pending: [login()] }) });
  for (const [code, text] of codes) {
    await ui.fail("approve", code);
    await page.getByTestId("approve").click();
    const banner = page.getByTestId("error");
    await expect(banner).toHaveAttribute("data-code", code);
    await expect(banner).toContainText(text);
  }
  await shot(page, "approval-error", false);
});

test("security notices from the Rust side are shown", async ({ page }) => {
  const ui = await start(page, { state: state() });
  await expect(page.getByTestId("no-requests")).toBeVisible();
  await ui.session({ kind: "notice", code: "spoofed", message: "request x was dropped" });
  await expect(page.getByTestId("notice")).toContainText("failed its security check");
  await page.getByRole("button", { name: "Dismiss" }).click();
  await expect(page.getByTestId("notice")).toHaveCount(0);
  await ui.session({ kind: "notice", code: "revoked", message: "Acme Bank revoked this device" });
  await expect(page.getByTestId("notice")).toContainText("This device was removed");
});

test("an error code the UI does not know is shown as a generic error, not trusted", async ({ page }) => {
  const ui = await start(page, { state: state({ pending: [login()] }) });
  // A rejection that is not one of the generated codes (a bug or a forged answer).
  await ui.fail("approve", "drop_tables" as ErrorKind);
  await page.getByTestId("approve").click();
  await expect(page.getByTestId("error")).toHaveAttribute("data-code", "internal");
  await expect(page.getByTestId("error")).toHaveText("Something went wrong. Try again.");
  await expect(page.getByTestId("message"), "the request stays, undecided").toHaveText("Sign in to Acme Bank?");
});
