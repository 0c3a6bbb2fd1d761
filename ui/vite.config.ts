import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a `factorline serve` on :8000; the build is served by it at /.
export default defineConfig({
  plugins: [react()],
  base: "./", // relative asset URLs: the editor also works behind a path prefix
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 800 },
  server: {
    proxy: { "/api": "http://127.0.0.1:8000" },
  },
});
