/**
 * The Redis of a run of a broker on Redis (`stack-redis`, `aedes-redis`): one redis-server per run, on a
 * free loopback port with its data in a temporary directory (RedisServer of
 * @mqtt-stack/redis-backend/testing), stopped and deleted after the run, so that no run sees the keys of
 * another. Its counters tell what the broker asked of Redis per PUBLISH.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { RedisServer } from '@mqtt-stack/redis-backend/testing'
import { readCpuMs, round } from '../load/stats.js'

const run = promisify(execFile)

/** What Redis has done so far: commands executed (by name, and in all), and read() calls. */
export interface RedisCounters {
  /** Commands executed, without the INFO of these readings. */
  commands: number
  byCommand: Map<string, number>
  /**
   * read() system calls of the redis-server process (/proc/<pid>/io `syscr`). Redis reads a connection once
   * each time it has bytes to read: a batch of pipelined commands costs one read, so this counts round
   * trips (plus about ten reads a second of its own housekeeping). Undefined where /proc is missing.
   */
  reads: number | undefined
  /** CPU time of the redis-server process (user + system) in ms, at the kernel's 10 ms resolution. */
  cpuMs: number | undefined
}

export interface RedisProbe {
  readonly url: string
  counters(): Promise<RedisCounters>
}

/** `cmdstat_<name>:calls=<n>,...` lines of INFO commandstats, without INFO itself. */
export function parseCommandStats(info: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const name = match[1]!
    if (name !== 'info') out.set(name, Number(match[2]))
  }
  return out
}

function readCalls(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const match = /^syscr:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

/** A redis-server for one run, with its counters. */
export class RunRedis implements RedisProbe {
  private constructor(readonly server: RedisServer) {}

  static async start(): Promise<RunRedis> {
    return new RunRedis(await RedisServer.start())
  }

  get url(): string {
    return this.server.url
  }

  async counters(): Promise<RedisCounters> {
    const reads = readCalls(this.server.pid)
    const cpuMs = readCpuMs(this.server.pid)
    const { stdout } = await run('redis-cli', ['-p', String(this.server.port), 'INFO', 'commandstats'])
    const byCommand = parseCommandStats(stdout)
    let commands = 0
    for (const calls of byCommand.values()) commands += calls
    return { commands, byCommand, reads, cpuMs }
  }

  close(): Promise<void> {
    return this.server.close()
  }
}

/**
 * The figures of Redis between two readings, per PUBLISH sent by the clients (`published`): the metrics
 * `redisCommandsPerPublish`, `redisReadsPerPublish` and `redisCpuPerPublish` (µs), and a note of the
 * commands that were most used.
 */
export function redisPerPublish(
  before: RedisCounters,
  after: RedisCounters,
  published: number,
  what = 'PUBLISH',
): { metrics: Record<string, number>; note: string } {
  const metrics: Record<string, number> = {}
  const per = (n: number) => round(n / Math.max(published, 1), 2)
  metrics.redisCommandsPerPublish = per(after.commands - before.commands)
  if (before.reads !== undefined && after.reads !== undefined)
    metrics.redisReadsPerPublish = per(after.reads - before.reads)
  if (before.cpuMs !== undefined && after.cpuMs !== undefined)
    metrics.redisCpuPerPublish = per((after.cpuMs - before.cpuMs) * 1000)
  const used = [...after.byCommand]
    .map(([name, calls]) => [name, calls - (before.byCommand.get(name) ?? 0)] as const)
    .filter(([, calls]) => calls > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([name, calls]) => `${name} ${per(calls)}`)
  return {
    metrics,
    note: `Redis per ${what} (${published} sent): ${used.join(', ') || 'no command'}`,
  }
}
