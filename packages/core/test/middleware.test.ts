import { describe, expect, it } from 'vitest'
import {
  type Client,
  ErrorCode,
  Middleware,
  middlewareName,
  type Next,
  type Packet,
  Stack,
} from '../src/index.js'

interface RetainOptions {
  maxRetained: number
  allowWildcardLookup: boolean
}

class RetainManager extends Middleware<RetainOptions> {
  constructor(config?: Partial<RetainOptions>) {
    super(config, { maxRetained: 100, allowWildcardLookup: true })
  }
}

describe('Middleware', () => {
  it('super(config, defaults) merges the config over the defaults and freezes it', () => {
    const middleware = new RetainManager({ maxRetained: 5 })
    expect(middleware.config).toEqual({ maxRetained: 5, allowWildcardLookup: true })
    expect(Object.isFrozen(middleware.config)).toBe(true)
  })

  it('an option given as undefined keeps its default', () => {
    expect(new RetainManager({ maxRetained: undefined as unknown as number }).config.maxRetained).toBe(100)
  })

  it('is named after its class in kebab case, the package short name', () => {
    expect(new RetainManager().name).toBe('retain-manager')
    expect(middlewareName('MQTTBridge')).toBe('mqtt-bridge')
    expect(middlewareName('KeepAlive')).toBe('keep-alive')
  })
})

describe('metadata checked at use()', () => {
  it('refuses a packet type that does not exist', () => {
    class Typo extends Middleware {
      override readonly packetTypes = ['pingrq'] as never
      override handle(_c: Client, _p: Packet, next: Next) {
        next()
      }
    }
    expect(() => new Stack().use(new Typo())).toThrow(
      expect.objectContaining({
        code: ErrorCode.INVALID_MIDDLEWARE,
        message: expect.stringContaining('pingrq'),
      }),
    )
  })

  it('refuses packetTypes without handle()', () => {
    expect(() => new Stack().use({ packetTypes: ['pingreq'] })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_MIDDLEWARE }),
    )
  })

  it('refuses a non-object, and the same instance twice', () => {
    const stack = new Stack()
    expect(() => stack.use(null as never)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_MIDDLEWARE }),
    )
    const once = new RetainManager()
    stack.use(once)
    expect(() => stack.use(once)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_MIDDLEWARE }))
  })

  it('refuses roles, before, after that are not lists of names, and hints that are not strings', () => {
    for (const bad of [
      { roles: 'backend' },
      { after: [''] },
      { before: [1] },
      { providerHints: ['x'] },
      { providerHints: { lookupSession: 1 } },
    ]) {
      expect(() => new Stack().use(bad as never)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_MIDDLEWARE }),
      )
    }
  })

  it('refuses requires that is not a list of names', () => {
    expect(() => new Stack().use({ requires: 'lookupSession' as never })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_MIDDLEWARE }),
    )
  })
})

describe('required callbacks', () => {
  class SessionLike extends Middleware {
    override readonly requires = ['lookupSubscriptions', 'registerClient'] as const
  }

  it('a missing provider fails handler() with MQS_ERR_MISSING_PROVIDER naming the callback and who needs it', () => {
    const stack = new Stack().use(new SessionLike())
    expect(() => stack.handler()).toThrow(
      expect.objectContaining({
        code: ErrorCode.MISSING_PROVIDER,
        message:
          'no middleware answers 2 callbacks the stack needs:\n' +
          '  use() a middleware that answers them\n' +
          '    for lookupSubscriptions, registerClient\n' +
          '    needed by session-like',
      }),
    )
  })

  it('groups missing callbacks by the class to use(), in a few lines however many are missing', () => {
    const backend = 'MemoryBackend from @mqtt-stack/memory-backend'
    const names = [
      'lookupSession',
      'storeSession',
      'removeSession',
      'lookupWill',
      'storeWill',
      'removeWill',
    ] as const
    const stack = new Stack()
      .use({
        name: 'sessions',
        requires: names,
        providerHints: Object.fromEntries(names.map((name) => [name, backend])),
      })
      .use({
        name: 'wills',
        requires: ['storeWill', 'relayMessage'],
        providerHints: { storeWill: backend, relayMessage: backend },
      })
      .use({
        name: 'auth',
        requires: ['authenticateConnection'],
        providerHints: {
          authenticateConnection: 'StaticCredentials or ScramSha256 from @mqtt-stack/authentication',
        },
      })
    let message = ''
    try {
      stack.validate()
    } catch (err) {
      message = (err as Error).message
    }
    expect(message.split('\n')).toEqual([
      'no middleware answers 8 callbacks the stack needs:',
      `  use() ${backend}`,
      '    for lookupSession, storeSession, removeSession, lookupWill and 3 more',
      '    needed by sessions, wills',
      '  use() StaticCredentials or ScramSha256 from @mqtt-stack/authentication',
      '    for authenticateConnection',
      '    needed by auth',
    ])
  })

  it('passes once any middleware, used before or after, answers every required callback', () => {
    const stack = new Stack().use(new SessionLike())
    stack.use({
      lookupSubscriptions: (_c: unknown, _s: unknown, next: Next) => next(),
      registerClient: (_c: unknown, _s: unknown, next: Next) => next(),
    } as object)
    expect(() => stack.validate()).not.toThrow()
    expect(typeof stack.handler()).toBe('function')
  })
})

describe('setup(stack): the stack is handed over at use()', () => {
  it('runs once, when use() adds the middleware, with the stack', () => {
    const stack = new Stack()
    const seen: Stack[] = []
    stack.use({ setup: (s: Stack) => void seen.push(s) })
    expect(seen).toEqual([stack])
  })

  it('a setup() that throws fails use() (MQS_ERR_MIDDLEWARE) and leaves the stack as it was', () => {
    const stack = new Stack()
    const broken = {
      name: 'broken',
      setup() {
        throw new Error('no config')
      },
      lookupSession(_ctx: unknown, _store: unknown, next: Next) {
        next()
      },
    }
    expect(() => stack.use(broken)).toThrow(
      expect.objectContaining({ code: ErrorCode.MIDDLEWARE, message: 'broken.setup() failed' }),
    )
    expect(stack.middlewares).toEqual([])
    expect(stack.provides('lookupSession')).toBe(false)
  })
})

describe('order as checked metadata: before/after by name or role', () => {
  const backend = { name: 'memory-backend', roles: ['backend'] }
  const retain = { name: 'retain-manager', after: ['backend'] }
  const acl = { name: 'topic-acl', before: ['session-manager'] }
  const sessions = { name: 'session-manager' }

  it('passes when every rule holds, and a rule naming a middleware that is not used binds nothing', () => {
    expect(() => new Stack().use(backend).use(acl).use(sessions).use(retain).validate()).not.toThrow()
    expect(() => new Stack().use(retain).use(acl).validate()).not.toThrow()
  })

  it('fails handler() with MQS_ERR_WRONG_ORDER naming both middlewares and the rule, every broken rule at once', () => {
    const stack = new Stack().use(retain).use(sessions).use(acl).use(backend)
    expect(() => stack.handler()).toThrow(
      expect.objectContaining({
        code: ErrorCode.WRONG_ORDER,
        message:
          'the middlewares are use()d in an order they forbid:\n' +
          '  retain-manager must come after memory-backend (a "backend") (retain-manager.after names "backend")\n' +
          '  topic-acl must come before session-manager (topic-acl.before names "session-manager")\n' +
          'Change the order of the use() calls.',
      }),
    )
  })

  it('a middleware of another name that fills the role is bound by the rule too', () => {
    const redis = { name: 'redis-backend', roles: ['backend'] }
    expect(() => new Stack().use(retain).use(redis).validate()).toThrow(
      /retain-manager must come after redis-backend/,
    )
    expect(() => new Stack().use(redis).use(retain).validate()).not.toThrow()
  })
})
