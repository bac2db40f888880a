import { describe, expect, it } from 'vitest'
import {
  type Client,
  type Done,
  ErrorCode,
  type MqttStackError,
  type Next,
  type Packet,
  Stack,
} from '../src/index.js'
import { connectTestClient } from '../src/testing/index.js'
import { collectErrors } from './helpers.js'

const PING: Packet = { cmd: 'pingreq' }
const PUBLISH: Packet = {
  cmd: 'publish',
  topic: 't',
  payload: Buffer.from('x'),
  qos: 0,
  dup: false,
  retain: false,
}

/** Records the order of visits; `then` says how it ends its step. */
function step(log: string[], name: string, then: 'next' | 'done' = 'next') {
  return {
    name,
    handle(_client: Client, packet: Packet, next: Next, done: Done) {
      log.push(`${name}:${packet.cmd}`)
      if (then === 'next') next()
      else done()
    },
  }
}

/** A fake client for `process`: only a real Client is needed when a middleware touches it. */
const fakeClient = {} as Client

for (const strict of [true, false]) {
  describe(`process (strict: ${strict})`, () => {
    it('runs handle of each middleware in use() order and calls done once at the end', () => {
      const log: string[] = []
      const stack = new Stack({ strict })
      stack.use(step(log, 'a')).use(step(log, 'b')).use(step(log, 'c'))
      const ends: Array<MqttStackError | null> = []
      stack.process(fakeClient, PING, (err) => ends.push(err))
      expect(log).toEqual(['a:pingreq', 'b:pingreq', 'c:pingreq'])
      expect(ends).toEqual([null])
    })

    it('done() ends the chain: later middlewares are not visited', () => {
      const log: string[] = []
      const stack = new Stack({ strict })
      stack
        .use(step(log, 'a'))
        .use(step(log, 'b', 'done'))
        .use(step(log, 'c'))
      let ended = 0
      stack.process(fakeClient, PING, () => ended++)
      expect(log).toEqual(['a:pingreq', 'b:pingreq'])
      expect(ended).toBe(1)
    })

    it('visits only middlewares whose packetTypes include the packet', () => {
      const log: string[] = []
      const stack = new Stack({ strict })
      stack.use({ ...step(log, 'pings'), packetTypes: ['pingreq'] })
      stack.use({ ...step(log, 'publishes'), packetTypes: ['publish'] })
      stack.use(step(log, 'all'))
      stack.process(fakeClient, PING, () => {})
      stack.process(fakeClient, PUBLISH, () => {})
      expect(log).toEqual(['pings:pingreq', 'all:pingreq', 'publishes:publish', 'all:publish'])
    })

    it('next(err) stops the chain and hands the error to done with its code', () => {
      const log: string[] = []
      const stack = new Stack({ strict })
      const failure = new Error('store is down')
      stack.use({ handle: (_c, _p, next) => next(failure) }).use(step(log, 'after'))
      let received: MqttStackError | null = null
      stack.process(fakeClient, PING, (err) => {
        received = err
      })
      expect(log).toEqual([])
      expect(received).toMatchObject({ code: ErrorCode.MIDDLEWARE, cause: failure })
    })

    it('a handler that throws is next(err)', () => {
      const stack = new Stack({ strict })
      stack.use({
        handle() {
          throw new TypeError('bug')
        },
      })
      let received: MqttStackError | null = null
      stack.process(fakeClient, PING, (err) => {
        received = err
      })
      expect(received).toMatchObject({ code: ErrorCode.MIDDLEWARE, message: 'bug' })
    })

    it('an async handler may call next later; a rejection is next(err)', async () => {
      const log: string[] = []
      const stack = new Stack({ strict })
      stack.use({
        async handle(_c: Client, _p: Packet, next: Next) {
          await Promise.resolve()
          log.push('async')
          next()
        },
      })
      stack.use({
        async handle() {
          throw new Error('rejected')
        },
      })
      const err = await new Promise<MqttStackError | null>((resolve) =>
        stack.process(fakeClient, PING, resolve),
      )
      expect(log).toEqual(['async'])
      expect(err?.message).toBe('rejected')
    })

    it('reports a handler that calls next twice [MQS_ERR_NEXT_TWICE] and dispatches once', () => {
      const log: string[] = []
      const { stack, errors } = collectErrors(new Stack({ strict }))
      stack.use({
        handle(_c: Client, _p: Packet, next: Next) {
          next()
          next()
        },
      })
      stack.use(step(log, 'after'))
      let ended = 0
      stack.process(fakeClient, PING, () => ended++)
      expect(log).toEqual(['after:pingreq'])
      expect(ended).toBe(1)
      expect(errors.map((e) => e.code)).toEqual([ErrorCode.NEXT_TWICE])
    })

    it('reports next after done', () => {
      const { stack, errors } = collectErrors(new Stack({ strict }))
      stack.use({
        handle(_c: Client, _p: Packet, next: Next, done: Done) {
          done()
          next()
        },
      })
      let ended = 0
      stack.process(fakeClient, PING, () => ended++)
      expect(ended).toBe(1)
      expect(errors.map((e) => e.code)).toEqual([ErrorCode.NEXT_TWICE])
    })

    it('runs with no middleware for a packet type: done at once', () => {
      const stack = new Stack({ strict })
      let ended = 0
      stack.process(fakeClient, PING, () => ended++)
      expect(ended).toBe(1)
    })
  })
}

describe('strict mode', () => {
  it('catches a late second next() even after its Run was reused by another chain', async () => {
    const { stack, errors } = collectErrors(new Stack({ strict: true }))
    let late: Next | undefined
    const log: string[] = []
    stack.use({
      handle(_c: Client, packet: Packet, next: Next) {
        if (packet.cmd === 'pingreq') late = next
        next()
      },
    })
    stack.use(step(log, 'after'))
    stack.process(fakeClient, PING, () => {})
    stack.process(fakeClient, PUBLISH, () => {})
    late?.()
    expect(log).toEqual(['after:pingreq', 'after:publish'])
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.NEXT_TWICE])
  })

  it('defaults to on under NODE_ENV development or test, off otherwise', () => {
    const previous = process.env.NODE_ENV
    try {
      process.env.NODE_ENV = 'test'
      expect(new Stack().strict).toBe(true)
      process.env.NODE_ENV = 'development'
      expect(new Stack().strict).toBe(true)
      process.env.NODE_ENV = 'production'
      expect(new Stack().strict).toBe(false)
      delete process.env.NODE_ENV
      expect(new Stack().strict).toBe(false)
      expect(new Stack({ strict: true }).strict).toBe(true)
    } finally {
      process.env.NODE_ENV = previous
    }
  })
})

describe('per-client processing', () => {
  it('processes the packets of one client in order, one at a time, even with async handlers', async () => {
    const stack = new Stack()
    const seen: string[] = []
    let active = 0
    let maxActive = 0
    stack.use({
      async handle(client: Client, packet: Packet, next: Next, done: Done) {
        active++
        maxActive = Math.max(maxActive, active)
        await new Promise((resolve) => setImmediate(resolve))
        active--
        seen.push(packet.cmd === 'publish' ? packet.topic : packet.cmd)
        if (packet.cmd === 'connect') client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
        if (packet.cmd === 'pingreq') client.write({ cmd: 'pingresp' })
        next()
        void done
      },
    })
    const t = connectTestClient(stack)
    const connack = t.connect()
    for (const topic of ['1', '2', '3']) t.send({ ...PUBLISH, topic } as Packet)
    t.send(PING)
    await connack
    await t.expect('pingresp')
    expect(seen).toEqual(['connect', '1', '2', '3', 'pingreq'])
    expect(maxActive).toBe(1)
    t.client.close()
    await t.closed()
  })

  it('[MQTT-4.8.0-2] an error in a chain (a transient error) is reported with the client and packet, and closes that client only', async () => {
    const { stack, errors, contexts } = collectErrors(new Stack())
    stack.use({
      handle(client: Client, packet: Packet, next: Next) {
        if (packet.cmd === 'connect') {
          client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
          return next()
        }
        if (packet.cmd === 'publish' && packet.topic === 'fail') return next(new Error('cannot store'))
        if (packet.cmd === 'pingreq') client.write({ cmd: 'pingresp' })
        next()
      },
    })
    const bad = connectTestClient(stack)
    const good = connectTestClient(stack)
    await bad.connect({ clientId: 'bad' })
    await good.connect({ clientId: 'good' })
    bad.send({ ...PUBLISH, topic: 'fail' } as Packet)
    await bad.closed()
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.MIDDLEWARE])
    expect(contexts[0]?.client).toBe(bad.client)
    expect(contexts[0]?.packet).toMatchObject({ cmd: 'publish', topic: 'fail' })
    good.send(PING)
    await good.expect('pingresp')
    good.client.close()
    await good.closed()
  })
})

describe('use()', () => {
  it('a middleware added later takes part in later dispatches', () => {
    const log: string[] = []
    const stack = new Stack()
    stack.use(step(log, 'a'))
    stack.process(fakeClient, PING, () => {})
    stack.use(step(log, 'b'))
    stack.process(fakeClient, PING, () => {})
    expect(log).toEqual(['a:pingreq', 'a:pingreq', 'b:pingreq'])
  })

  it('install(client) runs once per connection for every middleware, in order', async () => {
    const installed: string[] = []
    const stack = new Stack()
    stack.use({ install: () => installed.push('first') })
    stack.use({ install: () => installed.push('second') })
    const a = connectTestClient(stack)
    const b = connectTestClient(stack)
    expect(installed).toEqual(['first', 'second', 'first', 'second'])
    expect(stack.clients.size).toBe(2)
    await stack.close()
    expect(a.isClosed && b.isClosed).toBe(true)
    expect(stack.clients.size).toBe(0)
  })

  it('an install() that throws is reported and closes that connection', async () => {
    const { stack, errors } = collectErrors(new Stack())
    stack.use({
      name: 'broken',
      install() {
        throw new Error('no')
      },
    })
    const t = connectTestClient(stack)
    await t.closed()
    expect(errors[0]).toMatchObject({ code: ErrorCode.MIDDLEWARE, message: 'broken.install() failed' })
  })
})

describe('uninstall()', () => {
  it('runs once per closed connection for every middleware, in use() order, before the close listeners', async () => {
    const log: string[] = []
    const stack = new Stack()
    stack.use({ name: 'first', uninstall: (client) => void log.push(`first:${client.error?.message}`) })
    stack.use({ name: 'second', uninstall: () => void log.push('second') })
    const t = connectTestClient(stack)
    t.client.on('close', () => log.push('close event'))
    t.client.destroy(new Error('gone'))
    await t.closed()
    expect(log).toEqual(['first:gone', 'second', 'close event'])
    expect(stack.clients.size).toBe(0)
    await stack.close()
    expect(log).toHaveLength(3)
  })

  it('adds no close listener per connection', () => {
    const stack = new Stack()
    stack.use({ uninstall: () => {} })
    const t = connectTestClient(stack)
    expect(t.client.listenerCount('close')).toBe(0)
  })

  it('runs only for the middlewares a connection went through when an install() threw', async () => {
    const log: string[] = []
    const { stack, errors } = collectErrors(new Stack())
    stack.use({ name: 'first', uninstall: () => void log.push('first') })
    stack.use({
      name: 'broken',
      install() {
        throw new Error('no')
      },
      uninstall: () => void log.push('broken'),
    })
    stack.use({ name: 'third', uninstall: () => void log.push('third') })
    await connectTestClient(stack).closed()
    expect(errors[0]).toMatchObject({ message: 'broken.install() failed' })
    expect(log).toEqual(['first'])
  })

  it('an uninstall() that throws is reported and the next one still runs', async () => {
    const log: string[] = []
    const { stack, errors } = collectErrors(new Stack())
    stack.use({
      name: 'broken',
      uninstall() {
        throw new Error('no')
      },
    })
    stack.use({ name: 'after', uninstall: () => void log.push('after') })
    const t = connectTestClient(stack)
    t.destroy()
    await t.closed()
    expect(errors[0]).toMatchObject({ code: ErrorCode.MIDDLEWARE, message: 'broken.uninstall() failed' })
    expect(log).toEqual(['after'])
  })
})

describe('close()', () => {
  it('closes every client, then closes middlewares last-used first, and refuses use() afterwards', async () => {
    const order: string[] = []
    const stack = new Stack()
    stack.use({ name: 'first', close: () => void order.push('first') })
    stack.use({
      name: 'second',
      close: async () => {
        await Promise.resolve()
        order.push('second')
      },
    })
    const t = connectTestClient(stack)
    await stack.close()
    await t.closed()
    expect(order).toEqual(['second', 'first'])
    expect(() => stack.use({})).toThrow(expect.objectContaining({ code: ErrorCode.STACK_CLOSED }))
    expect(stack.close()).toBe(stack.close())
  })

  it('a connection arriving while the stack closes is refused', async () => {
    const stack = new Stack()
    const closing = stack.close()
    const t = connectTestClient(stack)
    await t.closed()
    await closing
    expect(stack.clients.size).toBe(0)
  })
})
