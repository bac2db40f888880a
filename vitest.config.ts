import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      'packages/*/vitest.config.ts',
      'examples/*/vitest.config.ts',
      'benchmarks/vitest.config.ts',
      'conformance/vitest.config.ts',
      'conformance/vitest.async.config.ts',
      'conformance/vitest.load.config.ts',
      'scripts/vitest.config.ts',
    ],
  },
})
