// The forms docs/writing-a-middleware.md shows for answering this plugin's callback, compiled here.
import {
  type CallbackHandlers,
  type DeclaredCallbackName,
  Middleware,
  type Next,
  Stack,
} from '@mqtt-stack/core'
import { describe, expectTypeOf, it } from 'vitest'
import { RATE_LIMIT_CALLBACKS, RateLimit } from '../src/index.js'

describe("RateLimit's callback, as the walk-through answers it", () => {
  it('declares the names of its declare module block', () => {
    expectTypeOf(new RateLimit().declares).toEqualTypeOf<readonly ['exampleRateLimitExceeded']>()
    expectTypeOf(RATE_LIMIT_CALLBACKS).toExtend<readonly DeclaredCallbackName[]>()
  })

  it('types the plain-object, method and callbacks() forms', () => {
    const stack = new Stack().use(new RateLimit())
    stack.use({
      exampleRateLimitExceeded(ctx, store, next) {
        expectTypeOf(ctx.limit).toEqualTypeOf<number>()
        store.disconnect = ctx.limit < 10
        next()
      },
    })
    stack.use({
      // @ts-expect-error: misspelled
      exampleRateLimitExceded(_ctx: unknown, _store: unknown, next: Next) {
        next()
      },
    })
    class Alerts extends Middleware {
      exampleRateLimitExceeded(ctx: { limit: number }, _store: object, next: Next) {
        console.warn(`over ${ctx.limit}/s`)
        next()
      }
    }
    class Kick extends Middleware {
      override callbacks() {
        return {
          exampleRateLimitExceeded(_ctx, store, next) {
            expectTypeOf(store.disconnect).toEqualTypeOf<boolean | undefined>()
            store.disconnect = true
            next()
          },
        } satisfies CallbackHandlers
      }
    }
    stack.use(new Alerts()).use(new Kick())
  })
})
