import { fileURLToPath } from 'node:url'
import { defineProject } from 'vitest/config'
import { workspaceAlias } from '../vitest.shared.js'

const exampleBroker = fileURLToPath(new URL('../examples/basic/src/broker.ts', import.meta.url))

// The load tests time a broker under load: they run after every other project, the benchmarks' too
// (groupOrder), and one file at a time, so that the rest of the suite does not take the CPU they measure.
export default defineProject({
  resolve: {
    alias: [{ find: /^@mqtt-stack\/example-basic$/, replacement: exampleBroker }, ...workspaceAlias],
  },
  test: {
    name: 'conformance-load',
    include: ['test/load/**/*.test.ts'],
    fileParallelism: false,
    sequence: { groupOrder: 2 },
  },
})
