import { strict as assert } from 'node:assert'
import type { MiddlewareLike } from '../../middleware.js'
import { BackendHarness } from './harness.js'
import type { BackendCapabilities, BackendTarget, TestFunctions } from './target.js'

/** What each suite of the kit gets: the target, and a way to declare a test that runs on a fresh harness. */
export interface Kit {
  readonly capabilities: BackendCapabilities
  describe(name: string, body: () => void): void
  /**
   * A test on a new backend in a new stack, closed (and disposed of) when the test ends, passed or not. The
   * test fails when the stack reported an error that `body` did not take (`h.takeErrors()`).
   */
  test(title: string, body: (h: BackendHarness) => Promise<void>): void
}

/** The kit of one `describeBackend` call: its tests run on harnesses of `target`, declared with `functions`. */
export function kitOf<B extends MiddlewareLike>(target: BackendTarget<B>, functions: TestFunctions): Kit {
  return {
    capabilities: target.capabilities ?? {},
    describe: (name, body) => {
      functions.describe(name, body)
    },
    test: (title, body) => {
      functions.it(title, async () => {
        const h = await BackendHarness.open(target)
        try {
          await body(h)
          assert.deepEqual(h.takeErrors(), [], 'the backend reported errors')
        } finally {
          await h.close()
        }
      })
    },
  }
}
