/**
 * What a connect + subscribe costs the built-ins themselves, without sockets: clients of the default
 * middlewares (memory backend) on in-memory streams, each sending a CONNECT and a SUBSCRIBE in one chunk.
 * Reports the CPU (this process: the JS, and V8's helper threads for GC) and the JS heap kept per
 * connection, the median of several rounds on a fresh stack. The storm scenario measures the same path over
 * TCP, where Node's sockets and the kernel add about as much again; this one isolates what a change to the
 * connect path saves.
 *
 *   pnpm bench:connect      (from the repository root; builds the packages first)
 */
import { Duplex } from 'node:stream'
import { MemoryBackend } from '@mqtt-stack/memory-backend'
import { connectFrame, subscribeFrame } from '../load/connection.js'
import { handBuiltStack } from '../peers/hand-built-stack.mjs'
import { median } from '../report.js'

const CONNECTIONS = 5000
const ROUNDS = 7
const gc = (globalThis as { gc?: () => void }).gc

/** CONNECT (3.1.1, clean, keepalive 60) and SUBSCRIBE to `storm/<i>/+`, as the storm scenario sends them. */
function handshake(i: number): Buffer {
  return Buffer.concat([
    connectFrame({ clientId: `storm-${i}`, keepalive: 60 }),
    subscribeFrame(1, [`storm/${i}/+`], 0),
  ])
}

interface Round {
  cpuMicros: number
  heapBytes: number | undefined
}

async function round(chunks: readonly Buffer[]): Promise<Round> {
  const stack = handBuiltStack({ backend: new MemoryBackend(), stackOptions: { strict: false } })
  const accept = stack.handler({ listener: 'mqtt' })
  const streams: Duplex[] = []
  let subacks = 0
  let allAcked: () => void = () => {}
  const acked = new Promise<void>((resolve) => {
    allAcked = resolve
  })
  // What the broker writes is dropped, but the SUBACKs are counted: the round ends with the last one.
  const write = (chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void => {
    if (chunk[0] === 0x90 && ++subacks === chunks.length) allAcked()
    callback()
  }
  gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const cpuBefore = process.cpuUsage()
  for (const chunk of chunks) {
    const stream = new Duplex({ read() {}, write })
    streams.push(stream)
    accept(stream)
    stream.push(chunk)
  }
  await acked
  const cpu = process.cpuUsage(cpuBefore)
  gc?.()
  const heapBytes = gc ? (process.memoryUsage().heapUsed - heapBefore) / chunks.length : undefined
  // In-memory streams end only when destroyed: then the stack's clients have closed.
  for (const stream of streams) stream.destroy()
  await stack.close()
  return { cpuMicros: (cpu.user + cpu.system) / chunks.length, heapBytes }
}

const chunks = Array.from({ length: CONNECTIONS }, (_, i) => handshake(i))
await round(chunks) // warm-up: the JIT compiles the path
const rounds: Round[] = []
for (let i = 0; i < ROUNDS; i++) rounds.push(await round(chunks))
const cpu = median(rounds.map((r) => r.cpuMicros))!
console.log(`connect + subscribe, ${CONNECTIONS} clients × ${ROUNDS} rounds on in-memory streams (median):`)
console.log(`  CPU per connection:     ${cpu.toFixed(1)} µs`)
if (gc) {
  const heap = median(rounds.map((r) => r.heapBytes!))!
  console.log(`  JS heap per connection: ${heap.toFixed(0)} B (the in-memory stream included, about 400 B)`)
} else console.log('  JS heap per connection: run with node --expose-gc to measure it')
