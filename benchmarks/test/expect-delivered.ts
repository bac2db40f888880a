import { expect } from 'vitest'
import type { RunRecord } from '../src/report.js'

/** The run completed on a broker that did not crash, with messages delivered, none lost, none twice. */
export function expectDelivered(run: RunRecord | undefined): void {
  expect(run, 'the scenario ran').toBeDefined()
  expect(run!.error).toBeUndefined()
  expect(run!.crashed).toBeUndefined()
  const result = run!.result!
  expect(result.received).toBeGreaterThan(0)
  expect(result.lost).toBe(0)
  expect(result.duplicates).toBe(0)
}
