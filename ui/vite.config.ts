import { defineConfig } from "vitest/config";

// Tauri serves the built page from its own origin (tauri://localhost, http://tauri.localhost
// on Windows), so the default base is right. The page must never load anything remote.
export default defineConfig({
  clearScreen: false,
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  server: {
    port: 1420,
    strictPort: true,
    watch: { ignored: ["**/src-tauri/**"] },
  },
  build: {
    outDir: "dist",
    // WebKitGTK (Linux) and WKWebView (macOS) are the oldest engines we run in.
    target: ["safari15", "chrome105"],
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.{ts,tsx}"],
    clearMocks: true,
    restoreMocks: true,
  },
});
