import { describe, expect, it, vi } from 'vitest'
import {
  type CallbackHandler,
  type CallbackHandlers,
  type Client,
  type Done,
  ErrorCode,
  Middleware,
  MqttStackError,
  type Next,
  Stack,
} from '../src/index.js'
import { collectErrors } from './helpers.js'

const client = {} as Client
const subscription = { topic: 'a/+', qos: 1 as const }

/** The seed's form: a method named after the callback. */
class SeedForm extends Middleware {
  lookupSubscriptions(
    ctx: { clientId: string },
    store: { subscriptions?: Array<{ topic: string; qos: 0 | 1 | 2 }> },
    next: Next,
  ) {
    store.subscriptions = [{ topic: `${ctx.clientId}/seed`, qos: 0 }]
    next()
  }
}

/** The typed property form. */
class PropertyForm extends Middleware {
  lookupSubscriptions: CallbackHandler<'lookupSubscriptions'> = (ctx, store, next) => {
    store.subscriptions?.push({ topic: `${ctx.clientId}/property`, qos: 1 })
    next()
  }
}

/** The callbacks() object form; `this` is the middleware. */
class ObjectForm extends Middleware<{ suffix: string }> {
  constructor() {
    super({}, { suffix: 'object' })
  }
  override callbacks(): CallbackHandlers {
    const suffix = this.config.suffix
    return {
      lookupSubscriptions(ctx, store, _next, done) {
        store.subscriptions?.push({ topic: `${ctx.clientId}/${suffix}`, qos: 2 })
        done()
      },
      relayMessage(_ctx, _store, next) {
        next()
      },
    }
  }
}

describe('execute', () => {
  for (const strict of [true, false]) {
    it(`runs the handlers of a name in use() order, in all three forms, and returns the store (strict: ${strict})`, () => {
      const stack = new Stack({ strict }).use(new SeedForm()).use(new PropertyForm()).use(new ObjectForm())
      const results: unknown[] = []
      stack.execute('lookupSubscriptions', { clientId: 'c' }, {}, (err, store) => results.push(err, store))
      expect(results).toEqual([
        null,
        {
          subscriptions: [
            { topic: 'c/seed', qos: 0 },
            { topic: 'c/property', qos: 1 },
            { topic: 'c/object', qos: 2 },
          ],
        },
      ])
    })
  }

  it('done() ends the chain early', () => {
    const visited: string[] = []
    const stack = new Stack()
    stack.use({
      relayMessage: (_ctx: unknown, _store: unknown, _next: Next, done: Done) => {
        visited.push('first')
        done()
      },
    } as object)
    stack.use({
      relayMessage: () => visited.push('second'),
    } as object)
    let calls = 0
    const packet = { cmd: 'publish', topic: 't', payload: '', qos: 0, dup: false, retain: false } as const
    stack.execute('relayMessage', { client, packet, topic: 't', payload: '' }, {}, () => calls++)
    expect(visited).toEqual(['first'])
    expect(calls).toBe(1)
  })

  it('a name nobody answers calls back at once with the store untouched', () => {
    const stack = new Stack()
    const store = {}
    let result: unknown
    stack.execute('lookupRetainedMessages', { topic: '#' }, store, (err, s) => {
      result = [err, s]
    })
    expect(result).toEqual([null, store])
    expect(stack.provides('lookupRetainedMessages')).toBe(false)
  })

  it('next(err) stops the chain; the callback gets the error with a code and the store', () => {
    const stack = new Stack()
    const cause = new Error('redis down')
    stack.use({ storeSession: (_c: unknown, _s: unknown, next: Next) => next(cause) } as object)
    stack.use({ storeSession: () => expect.fail('must not run after next(err)') } as object)
    let received: MqttStackError | null = null
    stack.execute(
      'storeSession',
      { clientId: 'c', session: { clientId: 'c', expiryInterval: 0 } },
      {},
      (err) => {
        received = err
      },
    )
    expect(received).toMatchObject({ code: ErrorCode.MIDDLEWARE, cause })
  })

  it('run() is the promise form: resolves with the store, rejects with the error', async () => {
    const stack = new Stack()
    stack.use({
      async lookupSession(ctx: { clientId: string }, store: { session?: unknown }, next: Next) {
        await Promise.resolve()
        if (ctx.clientId === 'bad') throw new Error('lookup failed')
        store.session = { clientId: ctx.clientId, expiryInterval: 60 }
        next()
      },
    } as object)
    await expect(stack.run('lookupSession', { clientId: 'a' }, {})).resolves.toEqual({
      session: { clientId: 'a', expiryInterval: 60 },
    })
    await expect(stack.run('lookupSession', { clientId: 'bad' }, {})).rejects.toMatchObject({
      code: ErrorCode.MIDDLEWARE,
      message: 'lookup failed',
    })
  })

  it('reports a handler that calls next twice, and the chain still ends once', () => {
    const { stack, errors } = collectErrors(new Stack())
    stack.use({
      clearSubscriptions: (_c: unknown, _s: unknown, next: Next) => {
        next()
        next()
      },
    } as object)
    let calls = 0
    stack.execute('clearSubscriptions', { clientId: 'c' }, {}, () => calls++)
    expect(calls).toBe(1)
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.NEXT_TWICE])
  })

  it('prints reported errors to stderr when nobody listens, one line per code every 10 s', () => {
    const stack = new Stack()
    const lines: string[] = []
    const spy = vi.spyOn(console, 'error').mockImplementation((line: string) => void lines.push(line))
    try {
      for (let i = 0; i < 1000; i++) {
        stack.reportError(new MqttStackError(ErrorCode.MESSAGE_DROPPED, `drop ${i}`), undefined, undefined)
      }
      stack.reportError(new MqttStackError(ErrorCode.SLOW_CONSUMER, 'slow'), undefined, undefined)
    } finally {
      spy.mockRestore()
    }
    expect(lines).toEqual([
      '[mqtt-stack] MQS_ERR_MESSAGE_DROPPED: drop 0',
      '[mqtt-stack] MQS_ERR_SLOW_CONSUMER: slow',
    ])
  })

  it('a callback that throws is reported, not propagated into the chain', () => {
    const { stack, errors } = collectErrors(new Stack())
    stack.use({ clearSubscriptions: (_c: unknown, _s: unknown, next: Next) => next() } as object)
    stack.execute('clearSubscriptions', { clientId: 'c' }, {}, () => {
      throw new Error('caller bug')
    })
    expect(errors.map((e) => e.message)).toEqual(['caller bug'])
  })

  it('lifecycle members and _private helpers are never callback handlers', () => {
    class WithHelpers extends Middleware {
      override install() {}
      _helper() {}
      override close() {}
    }
    const stack = new Stack().use(new WithHelpers())
    let ran = false
    // Casts: these names are deliberately not in the catalogue.
    const execute = stack.execute.bind(stack) as unknown as (
      n: string,
      c: object,
      s: object,
      cb: () => void,
    ) => void
    for (const name of ['install', '_helper', 'close', 'constructor'])
      execute(name, {}, {}, () => (ran = true))
    expect(ran).toBe(true)
    expect(stack.provides('install' as never)).toBe(false)
    expect(stack.provides('_helper' as never)).toBe(false)
  })

  it('passes the subscription ctx through unchanged', () => {
    const stack = new Stack()
    const seen: unknown[] = []
    stack.use({
      subscribeTopic(ctx: unknown, _s: unknown, next: Next) {
        seen.push(ctx)
        next()
      },
    } as object)
    const ctx = { client, topic: 'a/+', qos: 1 as const, subscription }
    stack.execute('subscribeTopic', ctx, {}, () => {})
    expect(seen).toEqual([ctx])
  })
})

describe('stack.executeThen: a callback answered into the caller’s own next/done', () => {
  type Then = Parameters<Stack['executeThen']>[3]
  const outer = { next: vi.fn(), done: vi.fn() }

  it('hands the store, the ctx and the caller’s next/done to `then`, with no handler too', () => {
    const stack = new Stack()
    const then = vi.fn<Then>()
    const ctx = { clientId: 'c' }
    stack.executeThen('lookupSubscriptions', ctx, {}, then, outer.next, outer.done)
    expect(then).toHaveBeenCalledWith(null, {}, ctx, outer.next, outer.done)
    stack.use(new SeedForm())
    stack.executeThen('lookupSubscriptions', ctx, {}, then, outer.next, outer.done)
    expect(then).toHaveBeenLastCalledWith(
      null,
      { subscriptions: [{ topic: 'c/seed', qos: 0 }] },
      ctx,
      outer.next,
      outer.done,
    )
  })

  it('passes a handler’s error on, and answers once even when the handler answers late', async () => {
    const stack = new Stack()
    let late: Next | undefined
    stack.use({
      lookupSession(_ctx, _store, next) {
        late = next
      },
    })
    stack.use({ lookupSession: (_ctx, _store, next) => next(new Error('down')) })
    const then = vi.fn<Then>()
    stack.executeThen('lookupSession', { clientId: 'c' }, {}, then, outer.next, outer.done)
    expect(then).not.toHaveBeenCalled()
    late!()
    expect(then).toHaveBeenCalledTimes(1)
    expect(then.mock.calls[0]![0]).toMatchObject({ message: 'down' })
    expect(then.mock.calls[0]![3]).toBe(outer.next)
  })
})
