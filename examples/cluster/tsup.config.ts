import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/main.ts', 'src/node.ts'],
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
  external: [/^@mqtt-stack\//],
})
