import { expect, test } from "@playwright/test";
import type { FindingView } from "../src/lib/types";
import { expectNoViolations, shot, start } from "./harness";
import { account, now, state } from "./fixtures";

/** "A device you may not know", as the Rust monitor reports it. */
function unknownDevice(overrides: Partial<FindingView> = {}): FindingView {
  return {
    id: "device:6f1c2d3e-0000-4000-8000-00000000c0de",
    account_id: account.id,
    app_name: "Acme Bank",
    service: "auth.acme.example",
    found_at: now() - 10,
    finding: {
      kind: "unknown_device",
      device_id: "6f1c2d3e-0000-4000-8000-00000000c0de",
      enrolled_at: now() - 120,
      fingerprint: "3fa9 0c12 77be d401",
      log_index: 41,
    },
    ...overrides,
  };
}

function fork(): FindingView {
  return {
    id: "fork:42:" + "ab".repeat(32),
    account_id: account.id,
    app_name: "Acme Bank",
    service: "auth.acme.example",
    found_at: now() - 5,
    finding: { kind: "fork", size: 42, root: "ab".repeat(32), new_size: 42, new_root: "cd".repeat(32) },
  };
}

for (const dark of [false, true]) {
  const theme = dark ? "dark" : "light";

  test.describe(`${theme} theme`, () => {
    test("a device you may not know is shown with what to do, and 'I know this device' dismisses it", async ({ page }) => {
      const ui = await start(page, { state: state(), findings: [unknownDevice()] }, { dark });
      const card = page.getByTestId("finding");
      await expect(card).toHaveCount(1);
      await expect(card).toHaveAttribute("data-kind", "unknown_device");
      await expect(page.getByTestId("finding-title")).toHaveText(
        "A device you may not know was added to your Acme Bank account",
      );
      await expect(card).toContainText("auth.acme.example");
      await expect(page.getByTestId("finding-fingerprint")).toHaveText("3fa9 0c12 77be d401");
      await expect(card).toContainText("contact your administrator");
      await expect(card).toContainText("deny any request you did not start");
      await shot(page, "finding-unknown-device", dark);
      await page.getByTestId("finding-known").click();
      await expect(page.getByTestId("finding")).toHaveCount(0);
      expect(await ui.calls("dismiss_finding")).toEqual([
        { cmd: "dismiss_finding", args: { account_id: account.id, finding_id: unknownDevice().id } },
      ]);
      expectNoViolations(ui.violations);
    });

    test("a finding made while the app runs appears at once, and a fork is a serious warning", async ({ page }) => {
      const ui = await start(page, { state: state() }, { dark });
      await expect(page.getByTestId("no-requests")).toBeVisible();
      await expect(page.getByTestId("finding")).toHaveCount(0);
      await ui.session({ kind: "log_findings", findings: [unknownDevice(), fork()] });
      await expect(page.getByTestId("finding")).toHaveCount(2);
      const serious = page.locator('[data-testid="finding"][data-kind="fork"]');
      await expect(serious).toHaveClass(/serious/);
      await expect(serious).toContainText("The approval log of auth.acme.example was rewritten");
      await expect(serious).toContainText("do not approve anything");
      await shot(page, "finding-fork", dark);
      expectNoViolations(ui.violations);
    });

    test("a failed dismissal says why and keeps the card", async ({ page }) => {
      const ui = await start(page, { state: state(), findings: [unknownDevice()] }, { dark });
      await ui.fail("dismiss_finding", "storage_error");
      await page.getByTestId("finding-known").click();
      await expect(page.getByTestId("finding-error")).toHaveAttribute("data-code", "storage_error");
      await expect(page.getByTestId("finding")).toHaveCount(1);
    });

    test("text from the service is shown as text, never as markup", async ({ page }) => {
      const hostile = unknownDevice({ app_name: '<img src=x onerror="window.__pwned=1">Acme' });
      const ui = await start(page, { state: state(), findings: [hostile] }, { dark });
      await expect(page.getByTestId("finding-title")).toContainText('<img src=x onerror="window.__pwned=1">Acme');
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expectNoViolations(ui.violations);
    });
  });
}
