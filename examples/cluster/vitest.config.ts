import { defineProject } from 'vitest/config'
import { workspaceAlias } from '../../vitest.shared.js'

export default defineProject({
  resolve: { alias: workspaceAlias },
  // Each test starts node processes from source (tsx) and a redis-server: seconds, not milliseconds.
  test: { name: 'example-cluster', include: ['test/**/*.test.ts'], testTimeout: 30_000 },
})
