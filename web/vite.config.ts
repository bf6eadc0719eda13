import { defineConfig } from 'vite';

// `npm run dev` proxies the API (HTTP and the WebSocket stream) to a running doppel:
//   DOPPEL_URL=http://127.0.0.1:18080 npm run dev
const target = process.env.DOPPEL_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 900,
    rollupOptions: {
      output: {
        // three is big and only the 3D view needs it: its own chunk, loaded on demand.
        manualChunks(id: string) {
          if (id.includes('node_modules/three')) return 'three';
          return undefined;
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': { target, ws: true, changeOrigin: true },
      '/metrics': { target, changeOrigin: true },
    },
  },
});
