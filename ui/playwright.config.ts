import { defineConfig } from "@playwright/test";

// Headless Debian Chromium (no browser download), against the UI built in test mode (the app over
// Tauri's official IPC mocks, tests/harness) and served by `vite preview`.
export default defineConfig({
  testDir: "tests",
  timeout: 30_000,
  fullyParallel: true,
  workers: 2,
  reporter: [["list"]],
  outputDir: "../target/test-artifacts/ui-results",
  use: {
    baseURL: "http://127.0.0.1:4173",
    viewport: { width: 460, height: 760 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: "npx vite build --mode test --logLevel error && npx vite preview --mode test --host 127.0.0.1 --port 4173 --strictPort",
    url: "http://127.0.0.1:4173/tests/harness/index.html",
    reuseExistingServer: false,
    timeout: 120_000,
  },
});
