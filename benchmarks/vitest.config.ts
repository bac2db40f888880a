import { defineProject } from 'vitest/config'
import { workspaceAlias } from '../vitest.shared.js'

// These tests load a broker for a minute and time it: they run after every other project (groupOrder) and
// one file at a time, so that neither the rest of the suite nor each other skews what they measure.
export default defineProject({
  resolve: { alias: workspaceAlias },
  test: {
    name: 'benchmarks',
    include: ['test/**/*.test.ts'],
    passWithNoTests: true,
    fileParallelism: false,
    sequence: { groupOrder: 1 },
  },
})
