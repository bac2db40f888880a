import { fileURLToPath } from 'node:url'
import { defineProject } from 'vitest/config'
import { workspaceAlias } from '../vitest.shared.js'

const exampleBroker = fileURLToPath(new URL('../examples/basic/src/broker.ts', import.meta.url))

// The spec suites and the client-fault tests again, against a backend that answers every callback late and
// out of order across clients (DeferredBackend): no built-in may act as if an answer came in the same tick.
export default defineProject({
  resolve: {
    alias: [{ find: /^@mqtt-stack\/example-basic$/, replacement: exampleBroker }, ...workspaceAlias],
  },
  test: {
    name: 'conformance-async',
    include: ['test/spec/v311/**/*.test.ts', 'test/spec/v5/**/*.test.ts', 'test/robustness/faults.test.ts'],
    env: { MQTT_STACK_BACKEND: 'deferred' },
    // Each callback waits up to 4 ms (call and answer), in order per client: the 200-message fault runs take
    // seconds where the memory backend takes one, more on a busy machine.
    testTimeout: 30_000,
  },
})
