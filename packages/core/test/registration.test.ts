import { describe, expect, it } from 'vitest'
import { type Client, ErrorCode, Middleware, type Next, Stack } from '../src/index.js'
import { collectErrors } from './helpers.js'

// A plugin's own callback, declared the way a published plugin declares it.
declare module '../src/index.js' {
  interface Callbacks {
    acmeAudit: { ctx: { client: Client; what: string }; store: { logged?: boolean } }
  }
}

const client = {} as Client

/** Runs `name` with a cast: the names these tests probe are deliberately not all in the catalogue. */
function executeAny(stack: Stack, name: string, ctx: object = {}): { ran: boolean; store: object } {
  const store = {}
  let ran = false
  const execute = stack.execute.bind(stack) as unknown as (
    n: string,
    c: object,
    s: object,
    cb: (err: unknown, store: object) => void,
  ) => void
  execute(name, ctx, store, () => (ran = true))
  return { ran, store }
}

/** Like packet-emitter: a public setter next to a callback handler. */
class EmitterLike extends Middleware {
  emitter: unknown = undefined
  readonly calls: string[] = []
  setClientHandler(emitter: unknown): this {
    this.calls.push('setClientHandler')
    this.emitter = emitter
    return this
  }
  cleanDisconnect(_ctx: { client: Client }, _store: object, next: Next) {
    this.calls.push('cleanDisconnect')
    next()
  }
}

/** The plugin that introduces `acmeAudit`: it executes it, and declares it. */
class Audit extends Middleware {
  override readonly declares = ['acmeAudit'] as const
}

/** A user's middleware answering the plugin's callback in the seed's form. */
class AuditLog extends Middleware {
  readonly lines: string[] = []
  acmeAudit(ctx: { what: string }, store: { logged?: boolean }, next: Next) {
    this.lines.push(ctx.what)
    store.logged = true
    next()
  }
}

describe('registration by declaration', () => {
  it('registers a method only when its name is a known callback: a public setter never is', () => {
    const emitter = new EmitterLike()
    const stack = new Stack().use(emitter)
    expect(stack.provides('cleanDisconnect')).toBe(true)
    expect(stack.provides('setClientHandler' as never)).toBe(false)
    expect(executeAny(stack, 'setClientHandler', { client }).ran).toBe(true)
    stack.execute('cleanDisconnect', { client }, {}, () => {})
    expect(emitter.calls).toEqual(['cleanDisconnect'])
  })

  it('a name is known once a middleware in the stack declares it, whichever was used first', () => {
    const before = new AuditLog()
    const stack = new Stack().use(before)
    expect(stack.provides('acmeAudit')).toBe(false)
    expect(stack.knows('acmeAudit')).toBe(false)
    stack.use(new Audit())
    const after = new AuditLog()
    stack.use(after)
    expect(stack.knows('acmeAudit')).toBe(true)
    const stores: Array<{ logged?: boolean }> = []
    stack.execute('acmeAudit', { client, what: 'login' }, {}, (_err, store) => stores.push(store))
    expect(before.lines).toEqual(['login'])
    expect(after.lines).toEqual(['login'])
    expect(stores).toEqual([{ logged: true }])
  })

  it('a name nobody declares is not a handler, even when the compiler knows it', () => {
    const log = new AuditLog()
    const stack = new Stack().use(log)
    stack.execute('acmeAudit', { client, what: 'x' }, {}, () => {})
    expect(log.lines).toEqual([])
  })

  it('the plain-object form follows the same rule; callbacks() entries are handlers by their own name', () => {
    const ran: string[] = []
    const stack = new Stack()
    const plain = {
      name: 'plain',
      removeWill(_ctx: unknown, _store: unknown, next: Next) {
        ran.push('removeWill')
        next()
      },
      helper: () => ran.push('helper'),
    }
    stack.use(plain)
    class ObjectForm extends Middleware {
      override callbacks() {
        return {
          acmeAudit: (_ctx: unknown, _store: unknown, next: Next) => {
            ran.push('acmeAudit')
            next()
          },
        }
      }
    }
    stack.use(new ObjectForm())
    stack.execute('removeWill', { clientId: 'c' }, {}, () => {})
    executeAny(stack, 'helper')
    stack.execute('acmeAudit', { client, what: 'x' }, {}, () => {})
    expect(ran).toEqual(['removeWill', 'acmeAudit'])
  })

  it('refuses declares that is not a list of names, or that names a life-cycle member', () => {
    const stack = new Stack()
    expect(() => stack.use({ declares: 'acmeAudit' } as never)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_MIDDLEWARE }),
    )
    expect(() => stack.use({ declares: ['install'] } as never)).toThrow(
      expect.objectContaining({
        code: ErrorCode.INVALID_MIDDLEWARE,
        message: expect.stringContaining('install'),
      }),
    )
  })
})

describe('a method one edit away from a callback [MQS_ERR_MISSPELLED_CALLBACK]', () => {
  class Misspelled extends Middleware {
    forwardMesage(_ctx: unknown, _store: unknown, next: Next) {
      next()
    }
    forwardMessages() {}
    forwardMassage() {}
    forwardMsg() {}
    storeWill(_ctx: unknown, _store: unknown, next: Next) {
      next()
    }
  }

  it('is reported at use(), named with the callback it resembles, and is not registered', () => {
    const { stack, errors } = collectErrors(new Stack())
    stack.use(new Misspelled())
    expect(errors.map((e) => e.code)).toEqual([
      ErrorCode.MISSPELLED_CALLBACK,
      ErrorCode.MISSPELLED_CALLBACK,
      ErrorCode.MISSPELLED_CALLBACK,
    ])
    expect(errors.map((e) => e.message.split(' is ')[0])).toEqual([
      'misspelled.forwardMesage()',
      'misspelled.forwardMessages()',
      'misspelled.forwardMassage()',
    ])
    expect(errors[0]?.message).toContain('"forwardMessage"')
    expect(stack.provides('forwardMessage')).toBe(false)
    expect(stack.provides('storeWill')).toBe(true)
  })

  it('is checked against a declared name when its plugin is used later', () => {
    class Typo extends Middleware {
      acmeAudt(_ctx: unknown, _store: unknown, next: Next) {
        next()
      }
    }
    const { stack, errors } = collectErrors(new Stack())
    stack.use(new Typo())
    expect(errors).toEqual([])
    stack.use(new Audit())
    expect(errors.map((e) => [e.code, e.message.split(' is ')[0]])).toEqual([
      [ErrorCode.MISSPELLED_CALLBACK, 'typo.acmeAudt()'],
    ])
  })

  it('private helpers (_name) and life-cycle members are never reported', () => {
    class Quiet extends Middleware {
      _forwardMesage() {}
      override handle(_c: Client, _p: unknown, next: Next) {
        next()
      }
    }
    const { stack, errors } = collectErrors(new Stack())
    stack.use(new Quiet())
    expect(errors).toEqual([])
  })
})
