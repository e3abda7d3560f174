import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The desktop app loads ui/dist from disk; nothing is fetched from a dev server or the network.
// `--mode test` builds the UI test page instead (tests/harness: the app over Tauri's official IPC
// mocks) into dist-test, which is never shipped.
export default defineConfig(({ mode }) => ({
  plugins: [svelte()],
  clearScreen: false,
  build: {
    outDir: mode === "test" ? "dist-test" : "dist",
    emptyOutDir: true,
    target: "es2021",
    sourcemap: false,
    rollupOptions: mode === "test" ? { input: { harness: "tests/harness/index.html" } } : undefined,
  },
}));
