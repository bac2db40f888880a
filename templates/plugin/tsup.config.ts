import { defineConfig } from 'tsup'

// ESM with declarations; @mqtt-stack/* stays external (core is a peer: the application's one copy).
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: [/^@mqtt-stack\//],
})
