// Enrollment: a pasted or offered link is first previewed (which service, at which host, for which
// account, and the phrase the relying party's page shows), with warnings for plain http and bare
// IP addresses; nothing is enrolled until the person agrees. Both colour schemes.
import { expect, test, type Page } from "@playwright/test";
import { EVENTS } from "../src/lib/generated/ipc";
import type { EnrollPreview, ErrorKind } from "../src/lib/types";
import { expectNoViolations, shot, start } from "./harness";
import { account, state } from "./fixtures";

const TOKEN = "q3Jv0Yc2bq7bq1mTj1vYQm3y1x9mTj1vYQm3y1x9mTg";
const linkTo = (server: string) => `assent://enroll?server=${encodeURIComponent(server)}&token=${TOKEN}`;
const LINK = linkTo("https://auth.acme.example");
const ACME_LOGO_PNG =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

function preview(overrides: Partial<EnrollPreview> = {}): EnrollPreview {
  return {
    link: LINK,
    host: "auth.acme.example",
    server: "https://auth.acme.example/",
    insecure: false,
    bare_ip: false,
    app: { name: "Acme Bank", accent_color: "#0b5fff", logo: ACME_LOGO_PNG },
    account_name: "ana@acme.example",
    phrase: "music hawk panda diary quarry",
    ...overrides,
  };
}

async function expectPreviewOf(page: Page, p: EnrollPreview) {
  await expect(page.getByRole("heading", { name: "Check before you enroll" })).toBeVisible();
  await expect(page.getByTestId("preview-app")).toHaveText(p.app.name);
  await expect(page.getByTestId("preview-host")).toHaveText(p.host);
  await expect(page.getByTestId("preview-account")).toHaveText(p.account_name ?? /did not name/);
  await expect(page.getByTestId("preview-phrase")).toHaveText(p.phrase);
  await expect(page.getByText(`Check that ${p.app.name}'s page shows the same words.`)).toBeVisible();
}

for (const dark of [false, true]) {
  const theme = dark ? "dark" : "light";

  test.describe(`${theme} theme`, () => {
    test("a pasted link is previewed with its phrase, then enrolled only when the person agrees", async ({ page }) => {
      const shown = preview();
      const ui = await start(
        page,
        { state: state({ accounts: [] }), answers: { enroll: account, preview_enrollment: shown } },
        { dark },
      );
      await expect(page.getByRole("heading", { name: "Add an account" })).toBeVisible();
      await shot(page, "enroll-paste", dark);
      await page.getByTestId("enroll-input").fill(LINK);
      await page.getByTestId("enroll-button").click();
      await expectPreviewOf(page, shown);
      await expect(page.getByTestId("preview-warning"), "https to a name: no warning").toHaveCount(0);
      await expect(page.getByTestId("logo"), "the logo Rust checked is shown").toBeVisible();
      expect(await ui.calls("preview_enrollment")).toEqual([
        { cmd: "preview_enrollment", args: { link: LINK, server: null, allow_insecure: false } },
      ]);
      expect(await ui.calls("enroll"), "a preview enrolls nothing").toEqual([]);
      await shot(page, "enroll-preview", dark);
      await page.getByTestId("preview-enroll").click();
      await expect(page.getByTestId("flash")).toHaveText("This computer now approves for Acme Bank.");
      expect(await ui.calls("enroll")).toEqual([{ cmd: "enroll", args: { link: LINK, server: null, allow_insecure: false } }]);
      expectNoViolations(ui.violations);
    });

    test("an offered link shows its host first, then the same preview before enrolling", async ({ page }) => {
      const link = linkTo("https://auth.acme.example:8443");
      const offer = { link, host: "auth.acme.example:8443", server: "https://auth.acme.example:8443/", insecure: false };
      const ui = await start(page, { state: state({ accounts: [], enroll_link: offer }), answers: { enroll: account } }, { dark });
      await expect(page.getByTestId("offered-host")).toHaveText("auth.acme.example:8443");
      await expect(page.getByTestId("enroll-input"), "the link's text is never shown").toHaveCount(0);
      expect(await ui.calls("preview_enrollment"), "the service is not contacted before the person continues").toEqual([]);
      await page.getByTestId("enroll-button").click();
      await expect(page.getByTestId("preview-host")).toHaveText("auth.acme.example:8443");
      await expect(page.getByTestId("preview-account")).toHaveText("ana@acme.example");
      await expect(page.getByTestId("preview-phrase")).toHaveText("music hawk panda diary quarry");
      expect(await ui.calls("enroll"), "nothing is enrolled until the person confirms the preview").toEqual([]);
      await shot(page, "enroll-offered-preview", dark);
      await page.getByTestId("preview-enroll").click();
      await expect(page.getByTestId("flash")).toHaveText("This computer now approves for Acme Bank.");
      expect(await ui.calls("enroll")).toEqual([{ cmd: "enroll", args: { link, server: null, allow_insecure: false } }]);
      expectNoViolations(ui.violations);
    });

    test("plain http asks for consent before the service is contacted, and warns again on the preview", async ({ page }) => {
      const link = linkTo("http://auth.acme.example");
      const offer = { link, host: "auth.acme.example", server: "http://auth.acme.example/", insecure: true };
      const ui = await start(page, { state: state({ accounts: [], enroll_link: offer }), answers: { enroll: account } }, { dark });
      await expect(page.getByTestId("insecure-warning")).toBeVisible();
      await expect(page.getByTestId("enroll-button"), "no contact before the warning is accepted").toBeDisabled();
      await page.getByTestId("insecure-accept").check();
      await page.getByTestId("enroll-button").click();
      const warning = page.getByTestId("preview-warning");
      await expect(warning).toHaveAttribute("data-kind", "insecure");
      await expect(warning).toContainText("does not use a secure connection");
      await expect(page.getByTestId("insecure-accept"), "the consent given carries over").toBeChecked();
      await shot(page, "enroll-preview-insecure", dark);
      await page.getByTestId("insecure-accept").uncheck();
      await expect(page.getByTestId("preview-enroll"), "withdrawn consent blocks enrolling").toBeDisabled();
      await page.getByTestId("insecure-accept").check();
      await page.getByTestId("preview-enroll").click();
      await expect(page.getByTestId("flash")).toHaveText("This computer now approves for Acme Bank.");
      expect(await ui.calls("preview_enrollment")).toEqual([
        { cmd: "preview_enrollment", args: { link, server: null, allow_insecure: true } },
      ]);
      expect(await ui.calls("enroll")).toEqual([{ cmd: "enroll", args: { link, server: null, allow_insecure: true } }]);
      expectNoViolations(ui.violations);
    });

    test("a bare IP address is warned about; loopback http, the demo, is not", async ({ page }) => {
      const bare = preview({ link: linkTo("https://203.0.113.9:8443"), host: "203.0.113.9:8443", server: "https://203.0.113.9:8443/", bare_ip: true });
      const ui = await start(page, { state: state({ accounts: [] }), answers: { enroll: account, preview_enrollment: bare } }, { dark });
      await page.getByTestId("enroll-input").fill(bare.link);
      await page.getByTestId("enroll-button").click();
      const warning = page.getByTestId("preview-warning");
      await expect(warning).toHaveAttribute("data-kind", "bare-ip");
      await expect(warning).toContainText("bare network address (203.0.113.9:8443)");
      await expect(page.getByTestId("preview-enroll"), "a warning, not a block").toBeEnabled();
      await shot(page, "enroll-preview-bare-ip", dark);

      await page.getByTestId("enroll-cancel").click();
      await page.evaluate(() => {
        delete window.__assent.scenario.answers?.preview_enrollment;
      });
      const demo = linkTo("http://127.0.0.1:7070");
      await page.getByTestId("enroll-input").fill(demo);
      await page.getByTestId("enroll-button").click();
      await expect(page.getByTestId("preview-host")).toHaveText("127.0.0.1:7070");
      await expect(page.getByTestId("preview-warning"), "loopback http is the demo: no warning").toHaveCount(0);
      await expect(page.getByTestId("insecure-warning")).toHaveCount(0);
      await page.getByTestId("preview-enroll").click();
      await expect(page.getByTestId("flash")).toHaveText("This computer now approves for Acme Bank.");
      expect((await ui.calls("enroll")).map((c) => c.args)).toEqual([{ link: demo, server: null, allow_insecure: false }]);
      expectNoViolations(ui.violations);
    });

    test("a long name, host and account wrap whole and keep the buttons in view", async ({ page }) => {
      const long = preview({
        app: { name: "Acme Bank International Holdings Group Retail", accent_color: null, logo: null },
        host: "very-long-subdomain-name-for-the-authentication-service.eu-west.acme-bank-international.example",
        account_name: "ana.maria.ferreira.da.silva.santos@customers.acme-bank-international.example",
      });
      const ui = await start(page, { state: state({ accounts: [] }), answers: { preview_enrollment: long } }, { dark });
      await page.getByTestId("enroll-input").fill(LINK);
      await page.getByTestId("enroll-button").click();
      await expectPreviewOf(page, long);
      await expect(page.getByTestId("logo-placeholder"), "no logo: the placeholder").toBeVisible();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(width, "nothing runs off the side").toBeLessThanOrEqual(460);
      await expect(page.getByTestId("preview-enroll")).toBeInViewport();
      await shot(page, "enroll-preview-long", dark);
      expectNoViolations(ui.violations);
    });
  });
}

test("another link offered while a preview is on screen replaces it, consent and all", async ({ page }) => {
  const first = linkTo("http://auth.acme.example");
  const offer = { link: first, host: "auth.acme.example", server: "http://auth.acme.example/", insecure: true };
  const ui = await start(page, { state: state({ accounts: [], enroll_link: offer }), answers: { enroll: account } });
  await page.getByTestId("insecure-accept").check();
  await page.getByTestId("enroll-button").click();
  await expect(page.getByTestId("preview-phrase")).toBeVisible();
  const second = linkTo("https://id.other.example");
  await ui.emit(EVENTS.enrollLink, { link: second, host: "id.other.example", server: "https://id.other.example/", insecure: false });
  await expect(page.getByTestId("offered-host")).toHaveText("id.other.example");
  await expect(page.getByTestId("preview-phrase"), "the old preview is gone").toHaveCount(0);
  await page.getByTestId("enroll-button").click();
  await expect(page.getByTestId("preview-host")).toHaveText("id.other.example");
  await page.getByTestId("preview-enroll").click();
  await expect(page.getByTestId("flash")).toHaveText("This computer now approves for Acme Bank.");
  expect(await ui.calls("enroll")).toEqual([{ cmd: "enroll", args: { link: second, server: null, allow_insecure: false } }]);
});

test("a pasted token with the service address is previewed the same way", async ({ page }) => {
  const ui = await start(page, { state: state({ accounts: [] }), answers: { enroll: account } });
  await page.getByTestId("enroll-input").fill(TOKEN);
  await page.getByTestId("server-input").fill("https://auth.acme.example");
  await page.getByTestId("enroll-button").click();
  await expect(page.getByTestId("preview-host")).toHaveText("auth.acme.example");
  expect((await ui.calls("preview_enrollment"))[0].args).toEqual({
    link: TOKEN,
    server: "https://auth.acme.example",
    allow_insecure: false,
  });
  await page.getByTestId("preview-enroll").click();
  await expect(page.getByTestId("flash")).toHaveText("This computer now approves for Acme Bank.");
  expect((await ui.calls("enroll"))[0].args, "enrolls the link the preview handed back").toEqual({
    link: linkTo("https://auth.acme.example"),
    server: null,
    allow_insecure: false,
  });
});

test("every preview and enrollment error code is shown as a clear message", async ({ page }) => {
  const ui = await start(page, { state: state({ accounts: [] }), answers: { enroll: account } });
  const codes: [ErrorKind, string][] = [
    ["invalid_link", "not a valid enrollment link"],
    ["token_invalid", "already used or has expired"],
    ["network", "Cannot reach the service"],
    ["protocol_error", ""],
  ];
  await page.getByTestId("enroll-input").fill(LINK);
  for (const [code, text] of codes) {
    await ui.fail("preview_enrollment", code);
    await page.getByTestId("enroll-button").click();
    await expect(page.getByTestId("error")).toHaveAttribute("data-code", code);
    await expect(page.getByTestId("error")).toContainText(text);
    await expect(page.getByTestId("preview-phrase"), "no preview after a refusal").toHaveCount(0);
  }
  await shot(page, "enroll-error", false);
  await ui.succeed("preview_enrollment");
  await page.getByTestId("enroll-button").click();
  await expect(page.getByTestId("preview-phrase")).toBeVisible();
  // The token was used up elsewhere between the preview and the click: said on the preview.
  await ui.fail("enroll", "token_invalid");
  await page.getByTestId("preview-enroll").click();
  await expect(page.getByTestId("error")).toHaveAttribute("data-code", "token_invalid");
  await ui.fail("enroll", "keychain_unavailable");
  await page.getByTestId("preview-enroll").click();
  await expect(page.getByTestId("error")).toContainText("Your system keychain is not available");

  // A plain-http address off this machine: Rust refuses the preview until the person accepts.
  await page.getByTestId("enroll-cancel").click();
  await page.getByTestId("enroll-input").fill(linkTo("http://auth.acme.example"));
  await ui.fail("preview_enrollment", "insecure_server");
  await page.getByTestId("enroll-button").click();
  await expect(page.getByTestId("insecure-warning")).toBeVisible();
  await expect(page.getByTestId("enroll-button")).toBeDisabled();
  await ui.succeed("preview_enrollment");
  await page.getByTestId("insecure-accept").check();
  await page.getByTestId("enroll-button").click();
  const calls = await ui.calls("preview_enrollment");
  expect(calls[calls.length - 1].args).toEqual({
    link: linkTo("http://auth.acme.example"),
    server: null,
    allow_insecure: true,
  });
  await expect(page.getByTestId("preview-warning")).toHaveAttribute("data-kind", "insecure");
});
