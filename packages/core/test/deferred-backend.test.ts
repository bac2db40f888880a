import { describe, expect, it } from 'vitest'
import { type CallbackHandlers, type MiddlewareLike, MqttStackError, Stack } from '../src/index.js'
import { DeferredBackend } from '../src/testing/index.js'
import { collectErrors } from './helpers.js'

/** A backend of the 2015 form (methods) and the typed form (`callbacks()`), answering at once. */
class Inner implements MiddlewareLike {
  readonly name = 'inner-backend'
  readonly requires = ['forwardMessage'] as const
  readonly calls: string[] = []
  lookupSession(ctx: { clientId: string }, store: { session?: unknown }, next: () => void): void {
    this.calls.push(`lookupSession ${ctx.clientId}`)
    store.session = { clientId: ctx.clientId, expiryInterval: 0 }
    next()
  }
  callbacks(): CallbackHandlers {
    return {
      storeSession: (ctx, _store, next) => {
        this.calls.push(`storeSession ${ctx.clientId}`)
        next()
      },
    }
  }
}

function setup(inner: MiddlewareLike, seed = 1) {
  const backend = new DeferredBackend(inner, { seed })
  const stack = new Stack({ strict: true }).use(backend)
  return { backend, ...collectErrors(stack) }
}

describe('DeferredBackend', () => {
  it('takes the name and metadata of the backend it wraps, and its seed', () => {
    const { backend } = setup(new Inner(), 42)
    expect(backend.name).toBe('inner-backend')
    expect(backend.requires).toEqual(['forwardMessage'])
    expect(backend.seed).toBe(42)
  })

  it('hands the stack to the wrapped backend through setup(), as use() would without it', () => {
    const seen: Stack[] = []
    const inner = Object.assign(new Inner(), { setup: (stack: Stack) => seen.push(stack) })
    const { stack } = setup(inner)
    expect(seen).toEqual([stack])
  })

  it('calls the wrapped handler, methods and callbacks() alike, and answers in a later turn, never the same tick', async () => {
    const inner = new Inner()
    const { stack } = setup(inner)
    let answered = false
    const result = new Promise((resolve) =>
      stack.execute('lookupSession', { clientId: 'a' }, {}, (err, store) => {
        answered = true
        resolve([err, store])
      }),
    )
    expect(inner.calls).toEqual([])
    expect(answered).toBe(false)
    expect(await result).toEqual([null, { session: { clientId: 'a', expiryInterval: 0 } }])
    await stack.run('storeSession', { clientId: 'a', session: { clientId: 'a', expiryInterval: 0 } }, {})
    expect(inner.calls).toEqual(['lookupSession a', 'storeSession a'])
  })

  it("keeps each client's calls and answers in order, and lets different clients' come out in any order", async () => {
    const { stack } = setup(new Inner(), 7)
    const answers: string[] = []
    const all: Promise<unknown>[] = []
    for (let i = 0; i < 40; i++) {
      for (const clientId of ['a', 'b']) {
        all.push(stack.run('lookupSession', { clientId }, {}).then(() => answers.push(`${clientId}${i}`)))
      }
    }
    await Promise.all(all)
    for (const clientId of ['a', 'b']) {
      expect(answers.filter((a) => a.startsWith(clientId))).toEqual(
        Array.from({ length: 40 }, (_, i) => `${clientId}${i}`),
      )
    }
    const issued = Array.from({ length: 40 }, (_, i) => [`a${i}`, `b${i}`]).flat()
    expect(answers).not.toEqual(issued)
  })

  it('passes an error on as the wrapped handler gives it: next(err), a throw, a rejection', async () => {
    const failure = new MqttStackError('ACME_ERR_DOWN', 'store down')
    const { stack } = setup({
      name: 'failing',
      callbacks: () => ({
        lookupSession: (_ctx, _store, next) => next(failure),
        storeSession: () => {
          throw failure
        },
        removeSession: async () => {
          throw failure
        },
      }),
    })
    const session = { clientId: 'a', expiryInterval: 0 }
    await expect(stack.run('lookupSession', { clientId: 'a' }, {})).rejects.toBe(failure)
    await expect(stack.run('storeSession', { clientId: 'a', session }, {})).rejects.toBe(failure)
    await expect(stack.run('removeSession', { clientId: 'a' }, {})).rejects.toBe(failure)
  })

  it('ends the chain once with done(), and reports a second answer as the stack does', async () => {
    const { stack, errors } = setup({
      name: 'twice',
      callbacks: () => ({
        lookupSession(_ctx, _store, _next, done) {
          done()
          done()
        },
      }),
    })
    const after: string[] = []
    stack.use({
      name: 'after',
      lookupSession(_ctx, _store, next) {
        after.push('reached')
        next()
      },
    })
    await stack.run('lookupSession', { clientId: 'a' }, {})
    // The second answer of the first call comes before anything of a later call of the same client.
    await stack.run('lookupSession', { clientId: 'a' }, {})
    expect(after).toEqual([])
    expect(errors.map((err) => err.code)).toContain('MQS_ERR_NEXT_TWICE')
  })
})
