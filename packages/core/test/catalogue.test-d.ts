import {
  type CallbackHandler,
  type CallbackHandlers,
  type Client,
  type IPublishPacket,
  Middleware,
  type MqttStackError,
  Stack,
} from '@mqtt-stack/core'
import { describe, expectTypeOf, it } from 'vitest'

// A third party adds a callback the way a published plugin would: by declaration merging, with a prefix.
declare module '@mqtt-stack/core' {
  interface Callbacks {
    acmeRateLimitExceeded: { ctx: { client: Client; limit: number }; store: { blocked?: boolean } }
  }
  interface ClientState {
    acmeTokens?: number
  }
}

declare const client: Client
declare const packet: IPublishPacket
const stack = new Stack()

describe('the callback catalogue', () => {
  it('types an augmented callback in execute, run and handlers', () => {
    stack.execute('acmeRateLimitExceeded', { client, limit: 5 }, {}, (err, store) => {
      expectTypeOf(err).toEqualTypeOf<MqttStackError | null>()
      expectTypeOf(store.blocked).toEqualTypeOf<boolean | undefined>()
    })
    expectTypeOf(stack.run('acmeRateLimitExceeded', { client, limit: 1 }, {})).resolves.toEqualTypeOf<{
      blocked?: boolean
    }>()
    const handler: CallbackHandler<'acmeRateLimitExceeded'> = (ctx, store, next) => {
      expectTypeOf(ctx.limit).toEqualTypeOf<number>()
      store.blocked = ctx.limit > 3
      next()
    }
    expectTypeOf(handler).parameter(0).toEqualTypeOf<{ client: Client; limit: number }>()
  })

  it('gives contextual types to the callbacks() object form without annotations', () => {
    class Limiter extends Middleware {
      override callbacks(): CallbackHandlers {
        return {
          acmeRateLimitExceeded(ctx, store, _next, done) {
            expectTypeOf(ctx.client).toEqualTypeOf<Client>()
            store.blocked = true
            done()
          },
          relayMessage(ctx, _store, next) {
            expectTypeOf(ctx.packet).toEqualTypeOf<IPublishPacket>()
            next()
          },
        }
      }
    }
    stack.use(new Limiter())
  })

  it('types the standard catalogue', () => {
    stack.execute(
      'relayMessage',
      { client, packet, topic: packet.topic, payload: packet.payload },
      {},
      () => {},
    )
    stack.execute('lookupRetainedMessages', { topic: 'a/#' }, {}, (_err, store) => {
      expectTypeOf(store.packets).toEqualTypeOf<IPublishPacket[] | undefined>()
    })
  })

  it('makes an unknown name or a wrong ctx a compile error', () => {
    // @ts-expect-error: not in the catalogue
    stack.execute('noSuchCallback', {}, {}, () => {})
    // @ts-expect-error: limit must be a number
    stack.execute('acmeRateLimitExceeded', { client, limit: 'five' }, {}, () => {})
    // @ts-expect-error: relayMessage needs packet, topic and payload
    stack.execute('relayMessage', { client }, {}, () => {})
    // @ts-expect-error: the store of lookupSession has no `packets`
    stack.execute('lookupSession', { clientId: 'c' }, { packets: [] }, () => {})
    class Wrong extends Middleware {
      override callbacks(): CallbackHandlers {
        return {
          // @ts-expect-error: ctx has no `topic`
          acmeRateLimitExceeded: (ctx, _store, next) => next(ctx.topic),
        }
      }
    }
    expectTypeOf(Wrong).toBeConstructibleWith()
  })

  it('types augmented per-connection state', () => {
    expectTypeOf(client.state.acmeTokens).toEqualTypeOf<number | undefined>()
  })
})
