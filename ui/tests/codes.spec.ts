// One-time codes where people look (the home screen), their length setting, and the clock
// warning, on Tauri's IPC mocks: Rust computes codes and copies them; the UI shows, counts down,
// asks again when the step ends, and words the clock measurement Rust reports.
import { expect, test } from "@playwright/test";
import type { ClockView } from "../src/lib/types";
import { expectNoViolations, shot, start } from "./harness";
import { account, otherAccount, state } from "./fixtures";

function clock(overrides: Partial<ClockView> = {}): ClockView {
  return {
    account_id: account.id,
    service: "auth.acme.example",
    offset_secs: 300,
    skewed: true,
    measured_at_ms: Date.now(),
    ...overrides,
  };
}

for (const dark of [false, true]) {
  test(`each account's code shows with its countdown and ticks to the next (${dark ? "dark" : "light"})`, async ({ page }) => {
    const ui = await start(
      page,
      {
        state: state({ accounts: [account, otherAccount] }),
        codes: { [account.id]: ["492039", "118305"], [otherAccount.id]: ["770211"] },
        // Long enough that a slow page start (a loaded machine) still sees the first code.
        codeSecondsLeft: 5,
      },
      { dark },
    );
    const cards = page.getByTestId("code-account");
    await expect(cards).toHaveCount(2);
    await expect(cards.first().getByTestId("code")).toHaveText("492 039");
    await expect(cards.nth(1).getByTestId("code")).toHaveText("770 211");
    await expect(cards.first().getByTestId("code-seconds")).toHaveText(/Changes in [0-5] s/);
    await expect(cards.nth(1).getByTestId("code-seconds"), "never more than the step").not.toHaveText(/Changes in 3\d s/);
    await shot(page, "codes", dark);
    // The step ends after 5 s: the card asks Rust again and shows the next code.
    await expect(cards.first().getByTestId("code")).toHaveText("118 305", { timeout: 10_000 });
    const asked = (await ui.calls("code")).map((c) => c.args.account_id);
    expect(asked.filter((id) => id === account.id).length, "asked again when the step ended").toBeGreaterThanOrEqual(2);
    expect(asked, "each account's card asks for its own code").toContain(otherAccount.id);
    expectNoViolations(ui.violations);
  });
}

test("copy asks Rust to copy and says when the clipboard is cleared", async ({ page }) => {
  const ui = await start(page, { state: state() });
  await expect(page.getByTestId("code")).toHaveText("492 039");
  await page.getByTestId("copy-code").click();
  await expect(page.getByTestId("code-copied")).toHaveText("Copied. It leaves the clipboard in 30 s.");
  expect(await ui.calls("copy_code")).toEqual([{ cmd: "copy_code", args: { account_id: account.id } }]);
  await shot(page, "code-copied");
});

test("a copy that fails says why, by its code", async ({ page }) => {
  const ui = await start(page, { state: state() });
  await ui.fail("copy_code", "clipboard_unavailable");
  await page.getByTestId("copy-code").click();
  await expect(page.getByTestId("code-error")).toHaveAttribute("data-code", "clipboard_unavailable");
  await expect(page.getByTestId("code-error")).toContainText("The clipboard is not available");
});

test("an account without a code seed says so instead of a code", async ({ page }) => {
  await start(page, { state: state(), failures: { code: { code: "key_missing", message: "mock key_missing" } } });
  await expect(page.getByTestId("code-error")).toHaveAttribute("data-code", "key_missing");
  await expect(page.getByTestId("code-error")).toContainText("key is missing from your keychain");
  await expect(page.getByTestId("code")).toHaveCount(0);
});

test("seven and eight digits are grouped for reading", async ({ page }) => {
  await start(page, {
    state: state({ accounts: [account, otherAccount] }),
    codes: { [account.id]: ["9005924"], [otherAccount.id]: ["94287082"] },
  });
  const cards = page.getByTestId("code-account");
  await expect(cards.first().getByTestId("code")).toHaveText("900 5924");
  await expect(cards.nth(1).getByTestId("code")).toHaveText("9428 7082");
});

test("the code length is a setting", async ({ page }) => {
  const ui = await start(page, { state: state(), codeDigits: 6 });
  await page.getByTestId("tab-settings").click();
  await expect(page.getByTestId("code-length")).toHaveValue("6");
  await page.getByTestId("code-length").selectOption("8");
  await expect.poll(() => ui.calls("set_code_digits")).toEqual([{ cmd: "set_code_digits", args: { digits: 8 } }]);
  await expect(page.getByTestId("code-length")).toHaveValue("8");
  await ui.fail("set_code_digits", "storage_error");
  await page.getByTestId("code-length").selectOption("7");
  await expect(page.getByTestId("code-length-error")).toHaveAttribute("data-code", "storage_error");
  await expect(page.getByTestId("code-length"), "a refused change shows the length still in effect").toHaveValue("8");
  await shot(page, "code-length");
});

for (const dark of [false, true]) {
  test(`the clock warning shows while a service's clock is off and leaves when it is not (${dark ? "dark" : "light"})`, async ({ page }) => {
    const ui = await start(page, { state: state() }, { dark });
    await expect(page.getByTestId("code")).toHaveText("492 039");
    await expect(page.getByTestId("clock-warning")).toHaveCount(0);
    await ui.session({ kind: "clock", clock: clock({ offset_secs: 2, skewed: false }) });
    await expect(page.getByTestId("clock-warning"), "a few seconds is no warning").toHaveCount(0);
    await ui.session({ kind: "clock", clock: clock() });
    const warning = page.getByTestId("clock-warning");
    await expect(warning).toHaveText(
      "Your computer's clock is 5 minutes behind auth.acme.example: codes will be refused; set the clock automatically.",
    );
    await shot(page, "clock-warning", dark);
    await ui.session({ kind: "clock", clock: clock({ offset_secs: -45 }) });
    await expect(warning).toContainText("45 seconds ahead of auth.acme.example");
    await ui.session({ kind: "clock", clock: clock({ offset_secs: 1, skewed: false }) });
    await expect(page.getByTestId("clock-warning"), "gone once the clocks agree").toHaveCount(0);
    expectNoViolations(ui.violations);
  });
}

test("a clock already known to be off at start is warned about", async ({ page }) => {
  await start(page, { state: state(), answers: { clocks: [clock({ offset_secs: -600 })] } });
  await expect(page.getByTestId("clock-warning")).toContainText("10 minutes ahead of auth.acme.example");
});

test("two accounts at one service give one warning, and a removed account's goes", async ({ page }) => {
  const ui = await start(page, { state: state({ accounts: [account, otherAccount] }) });
  // Events sent before the app has subscribed would be lost: wait until it shows its state.
  await expect(page.getByTestId("no-requests")).toBeVisible();
  await ui.session({ kind: "clock", clock: clock() });
  await ui.session({ kind: "clock", clock: clock({ account_id: otherAccount.id }) });
  await expect(page.getByTestId("clock-warning")).toHaveCount(1);
  await ui.session({ kind: "accounts", accounts: [otherAccount] });
  await expect(page.getByTestId("clock-warning"), "the other account still warns").toHaveCount(1);
  await ui.session({ kind: "accounts", accounts: [] });
  await expect(page.getByTestId("clock-warning")).toHaveCount(0);
});
