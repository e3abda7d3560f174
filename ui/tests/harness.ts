// A fake Tauri IPC in the page, as @tauri-apps/api/mocks' mockIPC does it, driven by a scenario:
// canned command answers, a log of calls, and events the test emits into the page.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, type Page } from "@playwright/test";

export interface Scenario {
  state: unknown;
  history?: unknown[];
  /** Command name → error to reject with ({code, message}). */
  failures?: Record<string, { code: string; message: string }>;
  /** Command name → answer (overrides the defaults). */
  answers?: Record<string, unknown>;
}

function installFakeIpc(scenario: Scenario) {
  type Callback = (data: unknown) => void;
  const callbacks = new Map<number, Callback>();
  const listeners = new Map<string, number[]>();
  let next = 1;
  const calls: { cmd: string; args: unknown }[] = [];
  const w = window as unknown as Record<string, unknown>;
  w.__assent = {
    calls,
    scenario,
    emit(event: string, payload: unknown) {
      for (const id of listeners.get(event) ?? []) callbacks.get(id)?.({ event, id, payload });
    },
  };
  w.__TAURI_EVENT_PLUGIN_INTERNALS__ = { unregisterListener: (_event: string, id: number) => callbacks.delete(id) };
  w.__TAURI_INTERNALS__ = {
    metadata: { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } },
    transformCallback(cb: Callback) {
      const id = next++;
      callbacks.set(id, cb);
      return id;
    },
    unregisterCallback: (id: number) => callbacks.delete(id),
    async invoke(cmd: string, args: Record<string, unknown>) {
      if (cmd === "plugin:event|listen") {
        const list = listeners.get(args.event as string) ?? [];
        list.push(args.handler as number);
        listeners.set(args.event as string, list);
        return args.handler;
      }
      if (cmd === "plugin:event|unlisten") return null;
      calls.push({ cmd, args });
      const failure = scenario.failures?.[cmd];
      if (failure) throw failure;
      if (scenario.answers && cmd in scenario.answers) return scenario.answers[cmd];
      const state = scenario.state as Record<string, unknown>;
      switch (cmd) {
        case "get_state":
          return state;
        case "history":
          return scenario.history ?? [];
        case "approve":
          return { id: args.id, status: "approved" };
        case "deny":
          return { id: args.id, status: "denied" };
        case "set_settings":
          return args.settings;
        case "enroll":
          return (state.accounts as unknown[])[0] ?? sampleAccount();
        case "remove_account":
          return null;
        default:
          throw { code: "internal", message: `unmocked command ${cmd}` };
      }
      function sampleAccount() {
        return {
          id: "a-1",
          app: { name: "Acme Bank", accent_color: "#0b5fff", logo: null },
          user_id: 7,
          server: "https://auth.acme.example",
          device_name: "laptop",
          enrolled_at: 0,
          revoked: false,
        };
      }
    },
  };
}

/** The CSP the desktop app ships (from tauri.conf.json), so the tests catch anything it would block. */
function shippedCsp(): string {
  const conf = JSON.parse(readFileSync(fileURLToPath(new URL("../../tauri.conf.json", import.meta.url)), "utf8"));
  const csp = conf.app.security.csp as Record<string, string>;
  return Object.entries(csp)
    .map(([k, v]) => `${k} ${v}`)
    .join("; ");
}

export async function start(page: Page, scenario: Scenario, options: { dark?: boolean } = {}) {
  const violations: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content Security Policy/i.test(msg.text())) violations.push(msg.text());
  });
  page.on("pageerror", (err) => violations.push(`page error: ${err.message}`));
  await page.route("**/", async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, headers: { ...response.headers(), "content-security-policy": shippedCsp() } });
  });
  await page.emulateMedia({ colorScheme: options.dark ? "dark" : "light", reducedMotion: "reduce" });
  await page.addInitScript(installFakeIpc, scenario);
  await page.goto("/");
  return {
    violations,
    async emit(event: string, payload: unknown) {
      await page.evaluate(([e, p]) => (window as any).__assent.emit(e, p), [event, payload] as const);
    },
    async calls(cmd?: string): Promise<{ cmd: string; args: any }[]> {
      const all = await page.evaluate(() => (window as any).__assent.calls as { cmd: string; args: unknown }[]);
      return cmd ? all.filter((c) => c.cmd === cmd) : all;
    },
    async fail(cmd: string, code: string) {
      await page.evaluate(
        ([c, k]) => {
          const s = (window as any).__assent.scenario;
          s.failures = { ...(s.failures ?? {}), [c]: { code: k, message: `mock ${k}` } };
        },
        [cmd, code] as const,
      );
    },
    async succeed(cmd: string) {
      await page.evaluate((c) => {
        const s = (window as any).__assent.scenario;
        if (s.failures) delete s.failures[c];
      }, cmd);
    },
  };
}

export const SHOTS = fileURLToPath(new URL("../../target/test-artifacts/ui/", import.meta.url));

export async function shot(page: Page, name: string, dark = false) {
  await page.screenshot({ path: `${SHOTS}${name}-${dark ? "dark" : "light"}.png`, fullPage: true });
}

export function expectNoViolations(violations: string[]) {
  expect(violations, "the shipped CSP must not block anything and the page must not throw").toEqual([]);
}
