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

  it('a missing provider fails handler() with MQS_ERR_MISSING_PROVIDER naming the callback and its providers', () => {
    const stack = new Stack().use(new SessionLike())
    let thrown: unknown
    try {
      stack.handler()
    } catch (err) {
      thrown = err
    }
    expect(thrown).toMatchObject({ code: ErrorCode.MISSING_PROVIDER })
    const message = (thrown as Error).message
    expect(message).toContain('"lookupSubscriptions" required by session-like')
    expect(message).toContain('@mqtt-stack/memory-backend')
    expect(message).toContain('"registerClient"')
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
