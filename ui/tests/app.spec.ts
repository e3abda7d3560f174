import { expect, test } from "@playwright/test";
import { expectNoViolations, shot, start } from "./harness";
import { account, history, login, now, otherAccount, state, wire } from "./fixtures";

for (const dark of [false, true]) {
  const theme = dark ? "dark" : "light";

  test.describe(`${theme} theme`, () => {
    test("onboarding enrolls from a pasted link", async ({ page }) => {
      const ui = await start(page, { state: state({ accounts: [] }), answers: { enroll: account } }, { dark });
      await expect(page.getByRole("heading", { name: "Add an account" })).toBeVisible();
      await shot(page, "onboarding", dark);
      const link = "assent://enroll?server=https%3A%2F%2Fauth.acme.example&token=q3Jv0Yc2bq7bq1mTj1vYQm3y1x9mTj1vYQm3y1x9mTg";
      await page.getByTestId("enroll-input").fill(link);
      await page.getByTestId("enroll-button").click();
      await expect(page.getByTestId("flash")).toHaveText("This computer now approves for Acme Bank.");
      const calls = await ui.calls("enroll");
      expect(calls).toEqual([{ cmd: "enroll", args: { link, server: null } }]);
      await shot(page, "enrolled-empty", dark);
      expectNoViolations(ui.violations);
    });

    test("a deep link asks before enrolling and names the server", async ({ page }) => {
      const link = "assent://enroll?server=https%3A%2F%2Fauth.acme.example&token=abcdefghijklmnopqrstuvwx";
      const ui = await start(page, { state: state({ accounts: [], enroll_link: link }) }, { dark });
      await expect(page.getByTestId("offered-server")).toHaveText("https://auth.acme.example");
      await expect(page.getByTestId("enroll-input")).toHaveValue(link);
      expect(await ui.calls("enroll"), "nothing is enrolled until the person confirms").toEqual([]);
      await shot(page, "onboarding-deep-link", dark);
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
      await ui.emit("assent://pending", [login(), wire(), second]);
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
      await expect(details.locator("dt")).toHaveText(["Username", "Browser"]);
      await expect(details.locator("dd")).toHaveText(["ana", "Firefox 133 on Linux"]);
      const requester = page.getByTestId("requester");
      await expect(requester).toContainText("Lisbon, Portugal");
      await expect(requester).toContainText("203.0.113.7");
      await expect(page.getByTestId("countdown")).toContainText(/Expires in 4:5\d/);
      await shot(page, "approval-login", dark);
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("flash")).toHaveText("Approved.");
      expect(await ui.calls("approve")).toEqual([{ cmd: "approve", args: { id: login().id, number: null } }]);
      expectNoViolations(ui.violations);
    });

    test("number matching needs the right pick before approving", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [wire()] }), answers: { approve: { id: wire().id, status: "pending" } } }, { dark });
      await expect(page.getByTestId("number-choices")).toBeVisible();
      await expect(page.getByTestId("number-choice")).toHaveText(["27", "64", "93"]);
      await expect(page.getByTestId("quorum")).toHaveText("Needs 2 of 2 approvers.");
      await expect(page.getByTestId("approve")).toBeDisabled();
      await shot(page, "approval-wire-number-matching", dark);
      await page.getByTestId("number-choice").nth(1).click();
      await expect(page.getByTestId("number-choice").nth(1)).toHaveAttribute("aria-checked", "true");
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("flash")).toHaveText("Approved. Waiting for the other approvers.");
      expect((await ui.calls("approve"))[0].args).toEqual({ id: wire().id, number: 64 });
    });

    test("deny with a reason: not me, and cancelled", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login(), wire()] }) }, { dark });
      await page.getByTestId("not-me").click();
      await expect(page.getByTestId("flash")).toHaveText("Denied and reported as not you.");
      await page.getByTestId("request-item").nth(1).click();
      await page.getByTestId("deny").click();
      await expect(page.getByTestId("flash")).toHaveText("Denied.");
      expect((await ui.calls("deny")).map((c) => c.args.reason)).toEqual(["not_me", "cancelled"]);
    });

    test("the countdown reaching expiry closes the request", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login({ expires_at: now() + 2 })] }) }, { dark });
      await expect(page.getByTestId("countdown")).toContainText(/Expires in 0:0[0-2]/);
      await expect(page.getByTestId("resolved-note")).toHaveText("This request expired.", { timeout: 5000 });
      await expect(page.getByTestId("approve")).toHaveCount(0);
      await expect(page.getByTestId("countdown")).toContainText("Expired");
      await shot(page, "approval-expired", dark);
      expect(await ui.calls("approve")).toEqual([]);
    });

    test("a request decided elsewhere or cancelled leaves with an explanation", async ({ page }) => {
      const ui = await start(page, { state: state({ pending: [login(), wire()] }) }, { dark });
      await ui.emit("assent://resolved", { id: login().id, status: "approved", decided_here: false });
      await ui.emit("assent://pending", [wire()]);
      await expect(page.getByTestId("resolved-note")).toHaveText("Approved on another device.");
      await shot(page, "approval-resolved-elsewhere", dark);
      await page.getByTestId("back").click();
      await page.getByTestId("request-item").first().click();
      await ui.emit("assent://resolved", { id: wire().id, status: "cancelled", decided_here: false });
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
      const ui = await start(
        page,
        {
          state: state({
            accounts: [account, otherAccount, revoked],
            connections: [
              { account_id: "acc-1", state: { state: "connected" } },
              { account_id: "acc-2", state: { state: "reconnecting", attempt: 3, retry_in_ms: 4000 } },
            ],
          }),
        },
        { dark },
      );
      await page.getByTestId("tab-accounts").click();
      const cards = page.getByTestId("account");
      await expect(cards).toHaveCount(3);
      await expect(cards.nth(0).getByTestId("connection")).toHaveText("Connected");
      await expect(cards.nth(1).getByTestId("connection")).toHaveText("Reconnecting in 4 s");
      await expect(cards.nth(2).getByTestId("account-revoked")).toBeVisible();
      await expect(page.locator("header").getByTestId("connection")).toHaveAttribute("data-state", "reconnecting");
      await shot(page, "accounts", dark);
      await cards.nth(1).getByTestId("remove-account").click();
      await cards.nth(1).getByTestId("confirm-remove").click();
      expect((await ui.calls("remove_account"))[0].args).toEqual({ account_id: "acc-2" });
      await ui.emit("assent://connection", { account_id: "acc-1", state: { state: "offline" } });
      await expect(cards.nth(0).getByTestId("connection")).toHaveText("Offline");
    });

    test("settings: start at login, pause notifications, theme", async ({ page }) => {
      const ui = await start(page, { state: state() }, { dark });
      await page.getByTestId("tab-settings").click();
      await page.getByTestId("autostart").check();
      await page.getByTestId("pause-notifications").check();
      const calls = await ui.calls("set_settings");
      expect(calls.map((c) => c.args.settings)).toEqual([
        { autostart: true, notifications_paused: false },
        { autostart: true, notifications_paused: true },
      ]);
      await expect(page.locator("html"), "following the system").toHaveAttribute("data-theme", theme);
      await page.getByTestId(`theme-${dark ? "light" : "dark"}`).check();
      await expect(page.locator("html")).toHaveAttribute("data-theme", dark ? "light" : "dark");
      await page.getByTestId(`theme-${theme}`).check();
      await shot(page, "settings", dark);
    });
  });
}

test("Enter never approves; Escape goes back", async ({ page }) => {
  const ui = await start(page, { state: state({ pending: [login()] }) });
  await expect(page.getByTestId("message")).toBeFocused();
  await page.keyboard.press("Enter");
  await page.keyboard.press("Space");
  expect(await ui.calls("approve"), "arriving and pressing Enter must not approve").toEqual([]);
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("request-item")).toHaveCount(1);
  expect(await ui.calls("approve")).toEqual([]);
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
  await ui.emit("assent://pending", [login()]);
  await expect(page.getByTestId("message")).toHaveText("Sign in to Acme Bank?");
  await expect(page.getByTestId("announcer")).toHaveText("New request from Acme Bank.");
  await ui.emit("assent://open-request", wire().id);
});

const codes: [string, string][] = [
  ["keychain_unavailable", "Your system keychain is not available"],
  ["keychain_error", "Your system keychain refused"],
  ["key_missing", "key is missing from your keychain"],
  ["network", "Cannot reach the service"],
  ["clock_skew", "clock is off"],
  ["not_pending", "no longer waiting for you"],
  ["request_not_found", "no longer waiting for you"],
  ["already_decided", "You already answered"],
  ["wrong_number", "not the number shown"],
  ["invalid_number", "Pick the number shown"],
  ["revoked", "This device was removed"],
  ["service_error", "The service could not handle"],
  ["protocol_error", "The service could not handle"],
  ["storage_error", "data folder"],
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

test("every enrollment error code is shown as a clear message", async ({ page }) => {
  const ui = await start(page, { state: state({ accounts: [] }) });
  const enrollCodes: [string, string][] = [
    ["invalid_link", "not a valid enrollment link"],
    ["token_invalid", "already used or has expired"],
    ["keychain_unavailable", "Your system keychain is not available"],
    ["network", "Cannot reach the service"],
  ];
  await page.getByTestId("enroll-input").fill("abcdefghijklmnopqrstuvwxyz");
  await expect(page.getByTestId("server-input")).toBeVisible();
  await page.getByTestId("server-input").fill("https://auth.acme.example");
  for (const [code, text] of enrollCodes) {
    await ui.fail("enroll", code);
    await page.getByTestId("enroll-button").click();
    await expect(page.getByTestId("error")).toHaveAttribute("data-code", code);
    await expect(page.getByTestId("error")).toContainText(text);
  }
  await shot(page, "onboarding-error", false);
  expect((await ui.calls("enroll"))[0].args).toEqual({ link: "abcdefghijklmnopqrstuvwxyz", server: "https://auth.acme.example" });
});

test("security notices from the Rust side are shown", async ({ page }) => {
  const ui = await start(page, { state: state() });
  await ui.emit("assent://notice", { code: "spoofed", message: "request x was dropped" });
  await expect(page.getByTestId("notice")).toContainText("failed its security check");
});
