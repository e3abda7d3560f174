// Automated accessibility check (axe-core through Playwright) of every screen, in both colour
// schemes: any serious or critical violation fails the test, naming the rule and the elements.
// Each screen is saved under target/test-artifacts/ui-shots/ for a person to look at.
import { fileURLToPath } from "node:url";
import { AxeBuilder } from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { EVENTS } from "../src/lib/generated/ipc";
import type { FindingView } from "../src/lib/types";
import { expectNoViolations, start } from "./harness";
import type { Scenario } from "./scenario";
import {
  account,
  flagged,
  history,
  login,
  now,
  otherAccount,
  secondApprover,
  state,
  typedLogin,
  updateAvailable,
  waitingOnOthers,
  wire,
} from "./fixtures";

const SHOTS = fileURLToPath(new URL("../../target/test-artifacts/ui-shots/", import.meta.url));

const finding: FindingView = {
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
};

/** Checks the page as it is now; fails on a serious or critical violation. */
async function audit(page: Page, name: string, dark: boolean) {
  await page.screenshot({ path: `${SHOTS}${name}-${dark ? "dark" : "light"}.png`, fullPage: true });
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]).analyze();
  const bad = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(bad, `${name} (${dark ? "dark" : "light"}) has no serious or critical accessibility violation`).toEqual([]);
  expect(results.passes.length, "axe ran its rules on the page").toBeGreaterThan(10);
}

interface Screen {
  name: string;
  scenario: Scenario;
  /** Brings the page to the screen (after the app started). */
  reach?: (page: Page, ui: Awaited<ReturnType<typeof start>>) => Promise<void>;
}

const screens: Screen[] = [
  {
    name: "list",
    scenario: { state: state({ accounts: [account, otherAccount], pending: [login(), wire(), waitingOnOthers()] }) },
    reach: async (page) => {
      await page.getByTestId("back-to-list").click();
      await expect(page.getByTestId("request-item")).toHaveCount(2);
      await expect(page.getByTestId("code-account").first().getByTestId("code")).toBeVisible();
    },
  },
  { name: "card-sign-in", scenario: { state: state({ pending: [login()] }) } },
  { name: "card-wire", scenario: { state: state({ pending: [wire()] }) } },
  { name: "card-several-approvers", scenario: { state: state({ pending: [secondApprover()] }) } },
  { name: "card-flagged", scenario: { state: state({ pending: [flagged()] }) } },
  {
    name: "card-number-pick",
    scenario: { state: state({ pending: [wire()] }) },
    reach: async (page) => {
      await page.getByTestId("number-choice").nth(1).click();
      await expect(page.getByTestId("number-choice").nth(1)).toHaveAttribute("aria-checked", "true");
    },
  },
  {
    name: "card-number-typed",
    scenario: { state: state({ pending: [typedLogin()] }) },
    reach: async (page) => {
      await page.getByTestId("code-input").fill("04");
    },
  },
  { name: "card-verification-required", scenario: { state: state({ pending: [login({ verification_required: true })] }) } },
  {
    name: "card-waiting-on-others",
    scenario: { state: state({ pending: [waitingOnOthers()] }) },
    reach: async (page) => {
      await page.getByTestId("waiting-item").click();
      await expect(page.getByTestId("my-answer")).toBeVisible();
    },
  },
  {
    name: "card-resolved",
    scenario: { state: state({ pending: [login()] }) },
    reach: async (page, ui) => {
      await ui.session({ kind: "resolved", id: login().id, status: "approved", decided_here: false });
      await expect(page.getByTestId("resolved-note")).toBeVisible();
    },
  },
  {
    name: "card-approved",
    scenario: { state: state({ pending: [login()] }) },
    reach: async (page) => {
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("flash")).toHaveText("Approved.");
    },
  },
  {
    name: "card-error",
    scenario: { state: state({ pending: [login()] }), failures: { approve: { code: "network", message: "down" } } },
    reach: async (page) => {
      await page.getByTestId("approve").click();
      await expect(page.getByTestId("answer-not-sent")).toBeVisible();
    },
  },
  {
    name: "history",
    scenario: { state: state(), history },
    reach: async (page) => {
      await page.getByTestId("tab-history").click();
      await expect(page.getByTestId("history-item")).toHaveCount(3);
    },
  },
  {
    name: "accounts",
    scenario: { state: state({ accounts: [account, otherAccount] }) },
    reach: async (page) => {
      await page.getByTestId("tab-accounts").click();
      await expect(page.getByTestId("account")).toHaveCount(2);
    },
  },
  {
    name: "settings",
    scenario: { state: state() },
    reach: async (page) => {
      await page.getByTestId("tab-settings").click();
      await expect(page.getByTestId("autostart")).toBeVisible();
    },
  },
  {
    name: "codes",
    scenario: { state: state({ accounts: [account, otherAccount] }), codes: { "acc-1": ["492039"], "acc-2": ["770211"] } },
    reach: async (page) => {
      await expect(page.getByTestId("code-account")).toHaveCount(2);
      await expect(page.getByTestId("code").first()).toHaveText("492 039");
    },
  },
  {
    name: "log-findings",
    scenario: { state: state(), findings: [finding] },
    reach: async (page) => {
      await expect(page.getByTestId("finding").first()).toBeVisible();
    },
  },
  {
    name: "onboarding",
    scenario: { state: state({ accounts: [] }) },
    reach: async (page) => {
      await expect(page.getByRole("heading", { name: "Add an account" })).toBeVisible();
    },
  },
  {
    name: "onboarding-deep-link",
    scenario: {
      state: state({
        accounts: [],
        enroll_link: {
          link: "assent://enroll?server=http%3A%2F%2Fauth.acme.example&token=abcdefghijklmnopqrstuvwx",
          host: "auth.acme.example",
          server: "http://auth.acme.example/",
          insecure: true,
        },
      }),
    },
    reach: async (page) => {
      await expect(page.getByTestId("insecure-warning")).toBeVisible();
    },
  },
  {
    name: "update-banner",
    scenario: { state: state(), update: updateAvailable() },
    reach: async (page) => {
      await expect(page.getByTestId("update-title")).toHaveText("Update available");
    },
  },
  {
    name: "offline",
    scenario: {
      state: state({
        connections: [{ account_id: "acc-1", state: { state: "offline" }, last_contact_at_ms: Date.now() - 90_000 }],
      }),
    },
    reach: async (page) => {
      await expect(page.getByTestId("retry-now")).toBeVisible();
    },
  },
  {
    name: "not-me-report",
    scenario: { state: state({ pending: [login()] }), answers: { deny: { id: login().id, status: "denied", frozen_until: now() + 1200 } } },
    reach: async (page) => {
      await page.getByTestId("not-me").click();
      await expect(page.getByTestId("not-me-report")).toBeVisible();
    },
  },
  {
    name: "held-link",
    scenario: { state: state({ pending: [login()] }) },
    reach: async (page, ui) => {
      await ui.emit(EVENTS.enrollLink, { link: "assent://enroll?x", host: "evil.example", server: "https://evil.example/", insecure: false });
      await expect(page.getByTestId("held-link")).toBeVisible();
    },
  },
];

for (const dark of [false, true]) {
  const theme = dark ? "dark" : "light";
  test.describe(`${theme} theme`, () => {
    for (const screen of screens) {
      test(`${screen.name}: no serious or critical accessibility violation`, async ({ page }) => {
        const ui = await start(page, screen.scenario, { dark });
        await expect(page.locator("html")).toHaveAttribute("data-theme", theme);
        if (screen.reach) await screen.reach(page, ui);
        else await expect(page.getByTestId("message")).toBeVisible();
        await audit(page, screen.name, dark);
        expectNoViolations(ui.violations);
      });
    }
  });
}
