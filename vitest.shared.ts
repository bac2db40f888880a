import { fileURLToPath } from 'node:url'
import { defineProject } from 'vitest/config'

const packages = fileURLToPath(new URL('./packages/', import.meta.url))

/**
 * Tests run against the TypeScript sources of workspace packages, so a change to core is seen by every
 * dependent's tests without a rebuild. Published packages still resolve to `dist` through `exports`.
 */
export const workspaceAlias = [
  { find: /^@mqtt-stack\/([a-z0-9-]+)\/testing$/, replacement: `${packages}$1/src/testing/index.ts` },
  { find: /^@mqtt-stack\/([a-z0-9-]+)$/, replacement: `${packages}$1/src/index.ts` },
]

/** The vitest project of one workspace package: its tests, and its type tests (`*.test-d.ts`) if any. */
export function packageProject(name: string) {
  return defineProject({
    resolve: { alias: workspaceAlias },
    test: {
      name,
      include: ['test/**/*.test.ts'],
      typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
    },
  })
}
