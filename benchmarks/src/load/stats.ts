/** What the generator measures: deliveries (unique, duplicate, lost), latency, its own CPU, broker RSS. */
import { readFileSync } from 'node:fs'

/**
 * Counts deliveries per (subscriber, publisher) pair on a growable bitmap of sequence numbers, so that a
 * duplicate is told from a new message whatever the order of arrival.
 */
export class DeliveryTracker {
  unique = 0
  duplicates = 0
  /** Payloads too short to carry a sequence number, or from a publisher index out of range. */
  unknown = 0
  readonly #seen: Uint8Array[]
  readonly #publishers: number

  constructor(subscribers: number, publishers: number) {
    this.#publishers = publishers
    this.#seen = Array.from({ length: subscribers * publishers }, () => new Uint8Array(1024))
  }

  /** Records the delivery of (publisher, seq) read from the payload at `buf[start]` to `subscriber`. */
  record(subscriber: number, buf: Buffer, start: number, end: number): void {
    if (end - start < 16) {
      this.unknown++
      return
    }
    const publisher = buf.readUInt32LE(start + 8)
    const seq = buf.readUInt32LE(start + 12)
    if (publisher >= this.#publishers) {
      this.unknown++
      return
    }
    const index = subscriber * this.#publishers + publisher
    let seen = this.#seen[index]!
    if (seq >= seen.length) {
      let size = seen.length * 2
      while (size <= seq) size *= 2
      const grown = new Uint8Array(size)
      grown.set(seen)
      seen = grown
      this.#seen[index] = seen
    }
    if (seen[seq] === 0) {
      seen[seq] = 1
      this.unique++
    } else this.duplicates++
  }
}

/** End-to-end latencies in milliseconds from the publisher's time stamp; keeps at most `capacity`. */
export class LatencyRecorder {
  #values: Float64Array
  #count = 0
  #seen = 0

  constructor(capacity = 2_000_000) {
    this.#values = new Float64Array(capacity)
  }

  /** Records now minus the float64 time stamp at `buf[start]`. Past capacity, keeps a uniform sample. */
  record(buf: Buffer, start: number, end: number): void {
    if (end - start < 8) return
    const latency = performance.now() - buf.readDoubleLE(start)
    this.#seen++
    if (this.#count < this.#values.length) this.#values[this.#count++] = latency
    else {
      const slot = Math.floor(Math.random() * this.#seen)
      if (slot < this.#values.length) this.#values[slot] = latency
    }
  }

  /** p50, p99 and p99.9 in milliseconds (undefined when nothing was recorded). */
  percentiles(): { p50: number; p99: number; p999: number } | undefined {
    if (this.#count === 0) return undefined
    const sorted = this.#values.slice(0, this.#count).sort()
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
    return { p50: round(at(0.5)), p99: round(at(0.99)), p999: round(at(0.999)) }
  }
}

/**
 * The generator's own CPU time over wall time. Its publishers and subscribers share one thread, so near
 * 100% it was the bottleneck and the run says more about the generator than about the broker.
 */
export class CpuMeter {
  #cpu = process.cpuUsage()
  #start = performance.now()

  /** Fraction of one core used since construction (or the last reset). */
  share(): number {
    const used = process.cpuUsage(this.#cpu)
    const wallUs = (performance.now() - this.#start) * 1000
    return wallUs > 0 ? (used.user + used.system) / wallUs : 0
  }

  reset(): void {
    this.#cpu = process.cpuUsage()
    this.#start = performance.now()
  }
}

/** The generator counts as the bottleneck past this share of one core. */
export const BOTTLENECK_CPU_SHARE = 0.9

/** Resident set size of a process in bytes, from /proc/<pid>/status (undefined where unavailable). */
export function readRss(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/**
 * CPU time a process has used (user + system), in milliseconds, from /proc/<pid>/stat (undefined where
 * unavailable). Its resolution is the kernel's clock tick (10 ms): read it over seconds of load.
 */
export function readCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/**
 * Microseconds of CPU per unit of work between two `readCpuMs` readings, rounded to `digits`; undefined where
 * a reading failed or there was no work.
 */
export function cpuMicrosPer(
  beforeMs: number | undefined,
  afterMs: number | undefined,
  units: number,
  digits: number,
): number | undefined {
  if (beforeMs === undefined || afterMs === undefined || units <= 0) return undefined
  return round(((afterMs - beforeMs) * 1000) / units, digits)
}

/**
 * Resolves once process `pid` has used at most one clock tick of CPU in `quietMs`: it has finished what the
 * last load left it (closing connections, collecting garbage). Gives up after `limitMs`, and at once where
 * /proc cannot be read.
 */
export async function whenIdle(pid: number | undefined, quietMs = 100, limitMs = 10_000): Promise<void> {
  const until = performance.now() + limitMs
  let before = readCpuMs(pid)
  while (before !== undefined && performance.now() < until) {
    await sleep(quietMs)
    const now = readCpuMs(pid)
    if (now === undefined || now - before <= 1000 / CLOCK_TICKS) return
    before = now
  }
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on Linux). */
const CLOCK_TICKS = 100

/** The q-quantile (0 < q ≤ 1, nearest rank) of `values`, which it sorts in place; undefined when empty. */
export function quantile(values: number[], q: number): number | undefined {
  if (values.length === 0) return undefined
  values.sort((a, b) => a - b)
  return values[Math.min(values.length - 1, Math.ceil(q * values.length) - 1)]
}

export function round(value: number, digits = 3): number {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `done` every 10 ms until it holds or `timeoutMs` passed with no change of `progress()`. */
export async function waitFor(
  done: () => boolean,
  progress: () => number,
  stallMs: number,
): Promise<boolean> {
  let last = progress()
  let lastChange = performance.now()
  while (!done()) {
    await sleep(10)
    const now = progress()
    if (now !== last) {
      last = now
      lastChange = performance.now()
    } else if (performance.now() - lastChange > stallMs) return false
  }
  return true
}

/** `promise`, or a rejection with `message` after `ms` (the timer does not outlive the race). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
