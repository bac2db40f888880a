import type { Options } from 'tsup'

/** How every published package is built: ESM with declarations, workspace packages left external. */
export const packageBuild: Options = {
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
  external: [/^@mqtt-stack\//],
}
