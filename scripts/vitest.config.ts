import { defineProject } from 'vitest/config'

/** Tests of the repository's own tooling: the architecture check and the plugin template. */
export default defineProject({
  test: { name: 'tooling', include: ['test/**/*.test.ts'] },
})
