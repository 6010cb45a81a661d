// Build configuration for the dashboard. `proxmox-mpc serve` embeds web/dist and serves it under a
// strict Content-Security-Policy (script-src 'self', no inline script), so the build must be one
// module script and one stylesheet with fixed names: the server and the committed dist/ refer to
// `assets/app.js` and `assets/app.css`, and `scripts/web-build --check` compares builds byte for
// byte, which content hashes in file names would only make noisier.
import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    cssCodeSplit: false,
    sourcemap: false,
    // Nothing inlined as data: URLs beyond what img-src allows; no fonts or images are used anyway.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: (info) =>
          (info.names ?? []).some((n) => n.endsWith(".css")) ? "assets/app.css" : "assets/[name][extname]",
        inlineDynamicImports: true,
      },
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
