import { describe, expect, it } from 'vitest'
import { type Client, type Done, ErrorCode, type Next, type Packet, Stack } from '../src/index.js'
import { acceptConnections, connectTestClient, deferred } from '../src/testing/index.js'
import { collectErrors } from './helpers.js'

/**
 * A `next`/`done` called twice, or after its chain ended, must never advance, end or skip another chain:
 * another client's, or a later packet of the same client. Through a real Stack, in both modes: the fast
 * mode (the default in production) must be as safe as the strict one.
 */

const PUBLISH: Packet = {
  cmd: 'publish',
  topic: 't',
  payload: Buffer.from('x'),
  qos: 0,
  dup: false,
  retain: false,
}

const clientA = { id: 'A' } as Client
const clientB = { id: 'B' } as Client

/**
 * An authorization-like middleware: client B's packets wait for `release()`; everybody else is authorized
 * at once. `authorized` lists the ids it let through, in order.
 */
function gatekeeper() {
  const authorized: string[] = []
  let held: (() => void) | undefined
  return {
    authorized,
    release: () => held?.(),
    middleware: {
      name: 'gatekeeper',
      handle(client: Client, _packet: Packet, next: Next) {
        if (client.id !== 'B') {
          authorized.push(client.id)
          return next()
        }
        held = () => {
          authorized.push('B')
          next()
        }
      },
    },
  }
}

/** Records the ids of the clients whose packets reach the end of the chain. */
function sink(delivered: string[]) {
  return {
    name: 'sink',
    handle(client: Client, _packet: Packet, next: Next) {
      delivered.push(client.id)
      next()
    },
  }
}

function nextTwiceErrors(errors: { code: string; message: string }[]) {
  return errors.filter((e) => e.code === ErrorCode.NEXT_TWICE)
}

/** A's packet, then B's, through `stack`; B's waits at the gate. Returns how many times B's chain ended. */
function processAThenB(stack: Stack): () => number {
  let endedB = 0
  stack.process(clientA, PUBLISH, () => {})
  stack.process(clientB, PUBLISH, () => endedB++)
  return () => endedB
}

/**
 * After a misuse: B's chain still waits at the gate, untouched, and the misuse was reported once, naming
 * `culprit`; once released, B's chain goes on and ends once.
 */
function expectBHeldThenReleased(
  gate: ReturnType<typeof gatekeeper>,
  delivered: string[],
  endedB: () => number,
  errors: { code: string; message: string }[],
  culprit: string,
): void {
  expect(delivered).toEqual(['A'])
  expect(endedB()).toBe(0)
  const reported = nextTwiceErrors(errors)
  expect(reported).toHaveLength(1)
  expect(reported[0]?.message).toContain(culprit)
  gate.release()
  expect(delivered).toEqual(['A', 'B'])
  expect(endedB()).toBe(1)
}

for (const strict of [false, true]) {
  describe(`chain safety (strict: ${strict})`, () => {
    it("a second synchronous next() cannot run another client's chain past its authorization", () => {
      const { stack, errors } = collectErrors(new Stack({ strict }))
      const gate = gatekeeper()
      const delivered: string[] = []
      stack.use({
        name: 'double-next',
        handle(client: Client, _packet: Packet, next: Next) {
          next()
          if (client.id === 'A') next()
        },
      })
      stack.use(gate.middleware).use(sink(delivered))
      const ended: string[] = []
      // A's chain ends inside its first next(); its end starts B's chain (as a client's next queued packet
      // or a forward to another client would) before the buggy second next() runs.
      stack.process(clientA, PUBLISH, () => {
        ended.push('A')
        stack.process(clientB, PUBLISH, () => ended.push('B'))
      })
      expect(delivered).toEqual(['A'])
      expect(ended).toEqual(['A'])
      const reported = nextTwiceErrors(errors)
      expect(reported).toHaveLength(1)
      expect(reported[0]?.message).toContain('double-next')
      gate.release()
      expect(gate.authorized).toEqual(['A', 'B'])
      expect(delivered).toEqual(['A', 'B'])
      expect(ended).toEqual(['A', 'B'])
      expect(nextTwiceErrors(errors)).toHaveLength(1)
    })

    it("a late next() kept by a callback-style handler cannot advance another client's chain", () => {
      const { stack, errors } = collectErrors(new Stack({ strict }))
      const gate = gatekeeper()
      const delivered: string[] = []
      let late: Next | undefined
      stack.use({
        name: 'late-next',
        handle(client: Client, _packet: Packet, next: Next) {
          if (client.id === 'A') late = next
          next()
        },
      })
      stack.use(gate.middleware).use(sink(delivered))
      const endedB = processAThenB(stack)
      expect(delivered).toEqual(['A'])
      late?.() // B's chain is waiting for its authorization
      expectBHeldThenReleased(gate, delivered, endedB, errors, 'late-next')
    })

    it("a late second next() of an async handler cannot advance another client's chain", async () => {
      const { stack, errors } = collectErrors(new Stack({ strict }))
      const gate = gatekeeper()
      const delivered: string[] = []
      const later = deferred<void>()
      let finished: Promise<void> | undefined
      stack.use({
        name: 'async-double-next',
        handle(client: Client, _packet: Packet, next: Next) {
          const run = async () => {
            next()
            if (client.id !== 'A') return
            await later.promise
            next()
          }
          if (client.id === 'A') finished = run()
          else void run()
        },
      })
      stack.use({
        name: 'async-function',
        async handle(_client: Client, _packet: Packet, next: Next) {
          next()
        },
      })
      stack.use(gate.middleware).use(sink(delivered))
      const endedB = processAThenB(stack)
      later.resolve()
      await finished
      expectBHeldThenReleased(gate, delivered, endedB, errors, 'async-double-next')
    })

    it('an async function that calls next() again after an await is named, and skips nothing', async () => {
      const { stack, errors } = collectErrors(new Stack({ strict }))
      const gate = gatekeeper()
      const delivered: string[] = []
      const later = deferred<void>()
      let finished: Promise<void> | undefined
      stack.use({
        name: 'await-then-next',
        handle: async (client: Client, _packet: Packet, next: Next) => {
          next()
          if (client.id !== 'A') return
          const settled = later.promise
          finished = settled.then(() => undefined)
          await settled
          next()
        },
      })
      stack.use(gate.middleware).use(sink(delivered))
      const endedB = processAThenB(stack)
      later.resolve()
      await finished
      await Promise.resolve()
      expectBHeldThenReleased(gate, delivered, endedB, errors, 'await-then-next')
    })

    it("a late done() cannot end another client's chain", () => {
      const { stack, errors } = collectErrors(new Stack({ strict }))
      const gate = gatekeeper()
      const delivered: string[] = []
      let late: Done | undefined
      stack.use({
        name: 'late-done',
        handle(client: Client, _packet: Packet, next: Next, done: Done) {
          if (client.id === 'A') late = done
          next()
        },
      })
      stack.use(gate.middleware).use(sink(delivered))
      const ended: string[] = []
      stack.process(clientA, PUBLISH, () => ended.push('A'))
      stack.process(clientB, PUBLISH, () => ended.push('B'))
      late?.()
      expect(ended).toEqual(['A'])
      expect(nextTwiceErrors(errors).map((e) => e.message)).toEqual([expect.stringContaining('late-done')])
      gate.release()
      expect(ended).toEqual(['A', 'B'])
      expect(delivered).toEqual(['A', 'B'])
    })

    it('a second synchronous next() cannot skip a step of its own chain that is still waiting', () => {
      const { stack, errors } = collectErrors(new Stack({ strict }))
      const gate = gatekeeper()
      const delivered: string[] = []
      stack.use({
        name: 'double-next',
        handle(_client: Client, _packet: Packet, next: Next) {
          next()
          next()
        },
      })
      stack.use(gate.middleware).use(sink(delivered))
      let ended = 0
      stack.process(clientB, PUBLISH, () => ended++)
      expect(delivered).toEqual([])
      expect(nextTwiceErrors(errors).map((e) => e.message)).toEqual([expect.stringContaining('double-next')])
      gate.release()
      expect(delivered).toEqual(['B'])
      expect(ended).toBe(1)
    })

    it('a rejection after next() is reported without ending the chain a later step is still running', async () => {
      const { stack, errors } = collectErrors(new Stack({ strict }))
      const gate = gatekeeper()
      const delivered: string[] = []
      const rejected = deferred<void>()
      stack.use({
        name: 'rejects-after-next',
        async handle(_client: Client, _packet: Packet, next: Next) {
          next()
          try {
            throw new Error('after next')
          } finally {
            rejected.resolve()
          }
        },
      })
      stack.use(gate.middleware).use(sink(delivered))
      const ends: unknown[] = []
      stack.process(clientB, PUBLISH, (err) => ends.push(err))
      await rejected.promise
      await new Promise((resolve) => setImmediate(resolve))
      expect(ends).toEqual([])
      expect(errors.map((e) => e.message)).toEqual(['after next'])
      gate.release()
      expect(ends).toEqual([null])
      expect(delivered).toEqual(['B'])
    })

    it("a late next() cannot run the same client's next packet past its authorization", async () => {
      const { stack, errors } = collectErrors(new Stack({ strict }))
      const accept = acceptConnections()
      let late: Next | undefined
      const delivered: string[] = []
      const held = deferred<void>()
      let release: (() => void) | undefined
      stack.use(accept)
      stack.use({
        name: 'late-next',
        packetTypes: ['publish'],
        handle(_client: Client, packet: Packet, next: Next) {
          if (packet.cmd === 'publish' && packet.topic === 'first') late = next
          next()
        },
      })
      stack.use({
        name: 'gatekeeper',
        packetTypes: ['publish'],
        handle(_client: Client, packet: Packet, next: Next) {
          if (packet.cmd === 'publish' && packet.topic === 'second') {
            release = next
            held.resolve()
          } else next()
        },
      })
      stack.use({
        name: 'sink',
        packetTypes: ['publish'],
        handle(_client: Client, packet: Packet, _next: Next, done: Done) {
          if (packet.cmd === 'publish') delivered.push(packet.topic)
          done()
        },
      })
      const t = connectTestClient(stack)
      await t.connect()
      t.send({ ...PUBLISH, topic: 'first' } as Packet)
      t.send({ ...PUBLISH, topic: 'second' } as Packet)
      await held.promise
      expect(delivered).toEqual(['first'])
      late?.()
      expect(delivered).toEqual(['first'])
      expect(nextTwiceErrors(errors).map((e) => e.message)).toEqual([expect.stringContaining('late-next')])
      release?.()
      expect(delivered).toEqual(['first', 'second'])
      t.client.close()
      await t.closed()
      await stack.close()
    })
  })
}

describe('chain safety, what the fast mode learns', () => {
  it('a late call it cannot pin on one handler lists the candidates; a repeat names the culprit', () => {
    const { stack, errors } = collectErrors(new Stack({ strict: false }))
    let late: Next | undefined
    stack.use({
      name: 'keeps-next',
      handle(_client: Client, _packet: Packet, next: Next) {
        late = next
        next()
      },
    })
    stack.use(sink([]))
    for (let i = 0; i < 2; i++) {
      stack.process(clientA, PUBLISH, () => {})
      late?.()
    }
    expect(nextTwiceErrors(errors).map((e) => e.message)).toEqual([
      expect.stringContaining('given to one of keeps-next, sink'),
      expect.stringContaining('given to keeps-next was called'),
    ])
  })

  it("once a plain handler has answered after returning, an earlier step's late call is not taken for its answer", () => {
    const { stack, errors } = collectErrors(new Stack({ strict: false }))
    const delivered: string[] = []
    const held: Next[] = []
    let late: Next | undefined
    stack.use({
      name: 'keeps-next',
      handle(client: Client, _packet: Packet, next: Next) {
        if (client.id === 'A') late = next
        next()
      },
    })
    // Callback-style and asynchronous for every packet: it answers after returning.
    stack.use({
      name: 'slow-gate',
      handle(_client: Client, _packet: Packet, next: Next) {
        held.push(next)
      },
    })
    stack.use(sink(delivered))
    stack.process(clientB, PUBLISH, () => {})
    held.shift()?.() // the first answer after returning: from now on slow-gate gets a pair of its own
    stack.process(clientA, PUBLISH, () => {})
    late?.() // A's chain waits for slow-gate: the late call must not pass for its answer
    expect(delivered).toEqual(['B'])
    expect(nextTwiceErrors(errors)).toHaveLength(1)
    held.shift()?.()
    expect(delivered).toEqual(['B', 'A'])
  })
})
