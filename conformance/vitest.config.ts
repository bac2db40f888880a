import { fileURLToPath } from 'node:url'
import { defineProject } from 'vitest/config'
import { workspaceAlias } from '../vitest.shared.js'

const exampleBroker = fileURLToPath(new URL('../examples/basic/src/broker.ts', import.meta.url))

export default defineProject({
  resolve: {
    alias: [{ find: /^@mqtt-stack\/example-basic$/, replacement: exampleBroker }, ...workspaceAlias],
  },
  test: { name: 'conformance', include: ['test/**/*.test.ts'], exclude: ['test/load/**'] },
})
