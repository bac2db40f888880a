import {
  type CallbackHandlers,
  type Client,
  type DeclaredCallbackName,
  type IPublishPacket,
  Middleware,
  type MiddlewareLike,
  type Next,
  Stack,
} from '@mqtt-stack/core'
import { describe, expectTypeOf, it } from 'vitest'

// A plugin's callback, with the runtime list of its names next to the declaration (the README's example).
declare module '@mqtt-stack/core' {
  interface Callbacks {
    acmeQuotaReached: { ctx: { client: Client; used: number }; store: { block?: boolean } }
  }
}
const ACME_CALLBACKS = ['acmeQuotaReached'] as const satisfies readonly DeclaredCallbackName[]

const stack = new Stack()

describe('MiddlewareLike is typed by the catalogue', () => {
  it('gives the plain-object form contextual types, for standard and declared callbacks', () => {
    stack.use({
      relayMessage(ctx, store, next, done) {
        expectTypeOf(ctx.packet).toEqualTypeOf<IPublishPacket>()
        expectTypeOf(store).toEqualTypeOf<{ matched?: number | undefined }>()
        expectTypeOf(next).toEqualTypeOf<Next>()
        void done
        next()
      },
      acmeQuotaReached(ctx, store, next) {
        expectTypeOf(ctx.used).toEqualTypeOf<number>()
        store.block = ctx.used > 10
        next()
      },
    })
  })

  it('makes a misspelled callback name, or a wrong handler, a compile error', () => {
    stack.use({
      // @ts-expect-error: not a callback (relayMessage)
      relayMesage(_ctx: unknown, _store: unknown, next: Next) {
        next()
      },
    })
    stack.use({
      lookupWill(ctx, _store, next) {
        // @ts-expect-error: the ctx of lookupWill has no packet
        next(ctx.packet)
      },
    })
    class WrongSignature extends Middleware {
      forwardMessage(ctx: { client: Client; packet: number }, _store: object, next: Next) {
        void ctx
        next()
      }
    }
    // @ts-expect-error: forwardMessage's ctx.packet is a PUBLISH, not a number
    stack.use(new WrongSignature())
  })

  it('accepts a class with other public methods: they are simply not handlers', () => {
    class WithSetter extends Middleware {
      setClientHandler(_emitter: unknown): this {
        return this
      }
    }
    stack.use(new WithSetter())
    expectTypeOf<WithSetter>().toExtend<MiddlewareLike>()
  })
})

describe('declares', () => {
  it('takes the names a plugin added to the catalogue, and nothing else', () => {
    class Quota extends Middleware {
      override readonly declares = ACME_CALLBACKS
    }
    stack.use(new Quota())
    stack.use({ declares: ['acmeQuotaReached'] })
    // @ts-expect-error: a standard callback is known already
    stack.use({ declares: ['forwardMessage'] })
    // @ts-expect-error: not declared in any `declare module` block
    stack.use({ declares: ['acmeNoSuchThing'] })
    expectTypeOf<'acmeQuotaReached'>().toExtend<DeclaredCallbackName>()
    expectTypeOf<'forwardMessage'>().not.toExtend<DeclaredCallbackName>()
  })
})

describe('override callbacks() without a CallbackHandlers annotation', () => {
  it('is typed by context with `satisfies CallbackHandlers`', () => {
    class Limiter extends Middleware {
      override callbacks() {
        return {
          acmeQuotaReached(ctx, store, _next, done) {
            expectTypeOf(ctx.client).toEqualTypeOf<Client>()
            store.block = true
            done()
          },
          relayMessage(ctx, _store, next) {
            expectTypeOf(ctx.topic).toEqualTypeOf<string>()
            next()
          },
        } satisfies CallbackHandlers
      }
    }
    stack.use(new Limiter())
  })

  it('still rejects a misspelled name there', () => {
    class Typo extends Middleware {
      override callbacks() {
        return {
          // @ts-expect-error: not a callback (relayMessage)
          relayMesage(_ctx: unknown, _store: unknown, next: Next) {
            next()
          },
          removeWill(_ctx, _store, next) {
            next()
          },
        } satisfies CallbackHandlers
      }
    }
    expectTypeOf(Typo).toBeConstructibleWith()
  })
})
