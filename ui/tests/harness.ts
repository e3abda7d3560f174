// Starts the app in the page over Tauri's official IPC mocks (tests/harness/entry.ts) with a
// scenario; returns helpers to emit the Rust side's events and read the commands the page called.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, type Page } from "@playwright/test";
import { EVENTS } from "../src/lib/generated/ipc";
import type { Command } from "../src/lib/ipc";
import type { ErrorKind, EventPayloads, SessionEvent } from "../src/lib/types";
import type { Call, Scenario } from "./scenario";

/** The CSP the desktop app ships (from tauri.conf.json), so the tests catch anything it would block. */
function shippedCsp(): string {
  const conf = JSON.parse(readFileSync(fileURLToPath(new URL("../../tauri.conf.json", import.meta.url)), "utf8"));
  const csp = conf.app.security.csp as Record<string, string>;
  return Object.entries(csp)
    .map(([k, v]) => `${k} ${v}`)
    .join("; ");
}

const PAGE = "/tests/harness/index.html";

export async function start(page: Page, scenario: Scenario, options: { dark?: boolean } = {}) {
  const violations: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content Security Policy/i.test(msg.text())) violations.push(msg.text());
  });
  page.on("pageerror", (err) => violations.push(`page error: ${err.message}`));
  await page.route(`**${PAGE}`, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, headers: { ...response.headers(), "content-security-policy": shippedCsp() } });
  });
  await page.emulateMedia({ colorScheme: options.dark ? "dark" : "light", reducedMotion: "reduce" });
  await page.addInitScript((s) => {
    window.__scenario = s;
  }, scenario);
  await page.goto(PAGE);
  const ui = {
    violations,
    /** Emits one of the events the desktop shell sends (typed by the generated EventPayloads). */
    async emit<K extends keyof EventPayloads>(event: K, payload: EventPayloads[K]) {
      await page.evaluate(([e, p]) => window.__assent.emit(e, p), [event, payload] as const);
    },
    /** Emits a device-session event, as the shell forwards them. */
    async session(event: SessionEvent) {
      await ui.emit(EVENTS.session, event);
    },
    async calls(cmd?: Command): Promise<Call[]> {
      const all = await page.evaluate(() => window.__assent.calls);
      return cmd ? all.filter((c) => c.cmd === cmd) : all;
    },
    /** Makes `cmd` reject with `code` (and `message`, as the Rust side would word it). */
    async fail(cmd: Command, code: ErrorKind, message?: string) {
      await page.evaluate(
        ([c, k, m]) => {
          const s = window.__assent.scenario;
          s.failures = { ...(s.failures ?? {}), [c]: { code: k, message: m ?? `mock ${k}` } };
        },
        [cmd, code, message] as const,
      );
    },
    async succeed(cmd: Command) {
      await page.evaluate((c) => {
        const s = window.__assent.scenario;
        if (s.failures) delete s.failures[c];
      }, cmd);
    },
  };
  return ui;
}

export const SHOTS = fileURLToPath(new URL("../../target/test-artifacts/ui/", import.meta.url));

export async function shot(page: Page, name: string, dark = false) {
  await page.screenshot({ path: `${SHOTS}${name}-${dark ? "dark" : "light"}.png`, fullPage: true });
}

export function expectNoViolations(violations: string[]) {
  expect(violations, "the shipped CSP must not block anything and the page must not throw").toEqual([]);
}
