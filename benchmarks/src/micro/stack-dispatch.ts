/**
 * What the middleware layer costs per packet: `process` and `execute` through 12 middlewares that each
 * call `next()`, in the fast and the strict mode, against a plain loop calling the same 12 functions (the
 * floor). Also the bytes allocated per dispatch, read from V8's young generation: in the fast mode one
 * chain object and its next/done, nothing per middleware.
 *
 *   pnpm bench:dispatch      (from the repository root; builds core first)
 */
import { getHeapSpaceStatistics } from 'node:v8'
import { type Client, type Done, type Next, type Packet, Stack } from '@mqtt-stack/core'

const MIDDLEWARES = 12
const BATCH = 20_000
const ROUNDS = 25

const packet: Packet = {
  cmd: 'publish',
  topic: 'a/b',
  payload: Buffer.from('x'),
  qos: 0,
  dup: false,
  retain: false,
}
const client = {} as Client
const ctx = { clientId: 'c' }
const store = {}
const ignore = (): void => {}

function stackOf(strict: boolean): Stack {
  const stack = new Stack({ strict })
  for (let i = 0; i < MIDDLEWARES; i++) {
    stack.use({
      name: `m${i}`,
      handle(_c: Client, _p: Packet, next: Next) {
        next()
      },
      clearOfflineMessages(_ctx: unknown, _store: unknown, next: Next) {
        next()
      },
    } as object)
  }
  return stack
}

/** The floor: the same 12 calls in a plain index loop, no chain object at all. */
const plain: Array<(c: Client, p: Packet, next: Next, done: Done) => void> = []
for (let i = 0; i < MIDDLEWARES; i++) plain.push((_c, _p, next) => next())
let cursor = 0
const plainNext = (): void => {
  const i = cursor++
  if (i < plain.length) plain[i]!(client, packet, plainNext, ignore)
}
function plainLoop(): void {
  cursor = 0
  plainNext()
}

const fast = stackOf(false)
const strict = stackOf(true)

const cases: Array<[string, () => void]> = [
  ['plain loop of 12 calls (floor)', plainLoop],
  ['process, fast mode', () => fast.process(client, packet, ignore)],
  ['process, strict mode', () => strict.process(client, packet, ignore)],
  ['execute, fast mode', () => fast.execute('clearOfflineMessages', ctx, store, ignore)],
  ['execute, strict mode', () => strict.execute('clearOfflineMessages', ctx, store, ignore)],
  ['execute, no handler', () => fast.execute('lookupWill', ctx, store, ignore)],
]

/** Bytes in V8's new space: grows with every allocation until a scavenge empties it. */
function newSpaceUsed(): number {
  for (const space of getHeapSpaceStatistics())
    if (space.space_name === 'new_space') return space.space_used_size
  return Number.NaN
}

/** Allocated bytes per call of `fn`: the smallest growth over runs in which no scavenge intervened. */
function bytesPerCall(fn: () => void): number {
  const calls = 1000
  let best = Number.POSITIVE_INFINITY
  for (let trial = 0; trial < 20; trial++) {
    const before = newSpaceUsed()
    for (let i = 0; i < calls; i++) fn()
    const after = newSpaceUsed()
    if (after >= before) best = Math.min(best, after - before)
  }
  return best / calls
}

/** Median ns per call over ROUNDS batches; cases interleave so they share the machine's noise. */
function timeAll(): number[][] {
  const samples: number[][] = cases.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, [, fn]] of cases.entries()) {
      const start = process.hrtime.bigint()
      for (let i = 0; i < BATCH; i++) fn()
      samples[index]!.push(Number(process.hrtime.bigint() - start) / BATCH)
    }
  }
  return samples
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

for (const [, fn] of cases) for (let i = 0; i < BATCH; i++) fn() // warm up every path first
const samples = timeAll()
const floor = median(samples[0]!)
const baseline = bytesPerCall(() => {})
const rows = cases.map(([name, fn], index) => {
  const ns = median(samples[index]!)
  return {
    case: name,
    'ns/dispatch (median)': ns.toFixed(0),
    'spread (min-max)': `${Math.min(...samples[index]!).toFixed(0)}-${Math.max(...samples[index]!).toFixed(0)}`,
    'ns per middleware': (ns / MIDDLEWARES).toFixed(1),
    'x floor': (ns / floor).toFixed(2),
    'bytes allocated/dispatch': Math.max(0, bytesPerCall(fn) - baseline).toFixed(0),
  }
})
console.log(
  `${MIDDLEWARES} middlewares, ${ROUNDS} interleaved rounds of ${BATCH} dispatches, Node ${process.version}`,
)
console.table(rows)
