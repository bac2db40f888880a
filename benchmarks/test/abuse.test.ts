/**
 * The abuse runs of docs/robustness.md at small counts, against our broker from its sources: each abuse
 * really happens (the abuser's counters say what it did), the broker stays up and serves a new client, and
 * the well-behaved clients beside it lose nothing. No timing or ratio is asserted here: the figures are
 * measured by `pnpm --filter @mqtt-stack/benchmarks run abuse` and recorded in docs/robustness.md.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { ABUSE_KINDS, type AbuseKind } from '../src/abuse/abusers.js'
import { type AbuseRecord, runAbuse } from '../src/abuse/run.js'

describe('abuse runs, quick mode', () => {
  const records = new Map<AbuseKind, AbuseRecord>()

  beforeAll(async () => {
    for (const record of await runAbuse({ quick: true, fromSource: true, log: () => {} }))
      records.set(record.kind, record)
  }, 170_000)

  it.each(ABUSE_KINDS)('%s: the broker stays up and the well-behaved clients lose nothing', (kind) => {
    const record = records.get(kind)
    expect(record, 'the run happened').toBeDefined()
    expect(record!.crashed).toBeUndefined()
    expect(record!.up).toBe(true)
    expect(record!.baseline.lost).toBe(0)
    expect(record!.abused.lost).toBe(0)
    expect(record!.abused.failures).toEqual([])
    expect(record!.abused.throughput).toBeGreaterThan(0)
  })

  it('each abuse did what it says', () => {
    const stats = (kind: AbuseKind) => records.get(kind)!.abuser
    expect(stats('silent-sockets').opened).toBe(stats('silent-sockets').sockets)
    const filters = stats('many-filters')
    expect(filters.granted! + filters.refused!).toBe(filters.clients! * filters.filtersPerClient!)
    expect(stats('publish-flood').written).toBeGreaterThan(1000)
    expect(stats('connect-flood').attempts).toBeGreaterThan(100)
    expect(stats('huge-topics').attempts).toBeGreaterThan(10)
    const guesses = stats('auth-brute-force')
    expect(guesses.attempts).toBeGreaterThan(10)
    expect(guesses.accepted, 'no guessed password is accepted').toBe(0)
  })
})
