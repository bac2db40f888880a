import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DeadlineBuckets } from '../src/deadline-buckets.js'

/** A DeadlineBuckets of named items that records when each was checked, on the fake clock. */
function buckets(onCheck?: (item: string, now: number, self: DeadlineBuckets<string>) => void) {
  const checked: Array<[item: string, at: number]> = []
  const self: DeadlineBuckets<string> = new DeadlineBuckets<string>((item, now) => {
    checked.push([item, now])
    onCheck?.(item, now, self)
  })
  return { self, checked }
}

/** A small deterministic generator: the same numbers on every run. */
function random(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
}

let start = 0
beforeEach(() => {
  vi.useFakeTimers()
  start = Date.now()
})

afterEach(() => {
  vi.useRealTimers()
})

describe('DeadlineBuckets', () => {
  it('checks each item at its due time rounded up to its resolution: never before, at most one resolution after', () => {
    const { self, checked } = buckets()
    const next = random(7)
    const due = new Map<string, [due: number, resolution: number]>()
    for (let i = 0; i < 500; i++) {
      const resolution = [1, 32, 64, 100, 1000][Math.floor(next() * 5)]!
      const at = start + Math.floor(next() * 20_000)
      due.set(`item-${i}`, [at, resolution])
      self.schedule(`item-${i}`, at, resolution)
    }
    vi.advanceTimersByTime(21_000)
    expect(checked).toHaveLength(500)
    for (const [item, at] of checked) {
      const [dueAt, resolution] = due.get(item)!
      expect(at).toBeGreaterThanOrEqual(dueAt)
      expect(at - dueAt).toBeLessThan(resolution)
      expect(at % resolution).toBe(0)
    }
    // Bucket after bucket, in the order of their times, and each item once.
    expect(checked.map(([, at]) => at)).toEqual(checked.map(([, at]) => at).sort((a, b) => a - b))
    expect(new Set(checked.map(([item]) => item)).size).toBe(500)
    expect(self.size).toBe(0)
  })

  it('looks only at the items that are due: many items due later cost no check per tick', () => {
    const { self, checked } = buckets()
    for (let i = 0; i < 10_000; i++) self.schedule(`late-${i}`, start + 60_000 + i, 1000)
    for (let i = 0; i < 10; i++) self.schedule(`soon-${i}`, start + 90 * (i + 1), 32)
    // One second in ticks of 10 ms: 100 ticks, and the 10 items due in that second are the only ones checked.
    for (let tick = 0; tick < 100; tick++) vi.advanceTimersByTime(10)
    expect(self.checks).toBe(10)
    expect(checked.map(([item]) => item)).toEqual(Array.from({ length: 10 }, (_, i) => `soon-${i}`))
    expect(self.size).toBe(10_000)
    expect(vi.getTimerCount()).toBe(1)
  })

  it('keeps one timer, armed for the earliest bucket, and none once nothing is scheduled', () => {
    const { self, checked } = buckets()
    expect(self.armed).toBe(false)
    self.schedule('late', start + 5000, 1000)
    self.schedule('early', start + 200, 32)
    expect(vi.getTimerCount()).toBe(1)
    // Armed for the early one: 200 rounded up to 32 ms is 224 ms away at most.
    vi.advanceTimersByTime(231)
    expect(checked.map(([item]) => item)).toEqual(['early'])
    expect(self.armed).toBe(true)
    self.delete('late')
    expect(self.armed).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
    self.schedule('again', start + 1000, 1)
    self.clear()
    expect(self.armed).toBe(false)
    expect(self.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('never checks an item deleted before its time, even by the check of another item of its bucket', () => {
    const { self, checked } = buckets((item, _now, self) => {
      if (item === 'a') self.delete('b')
    })
    self.schedule('gone', start + 100, 100)
    self.schedule('a', start + 500, 100)
    self.schedule('b', start + 500, 100)
    expect(self.delete('gone')).toBe(true)
    expect(self.delete('gone')).toBe(false)
    vi.advanceTimersByTime(1000)
    expect(checked.map(([item]) => item)).toEqual(['a'])
    expect(self.size).toBe(0)
    expect(self.armed).toBe(false)
  })

  it('schedules an item again from its check; a time already past is taken as the next one after it', () => {
    let rounds = 0
    const { self, checked } = buckets((item, now, self) => {
      // Asks for a time already past: the item is checked again one resolution later, not in a loop.
      if (++rounds < 5) self.schedule(item, now - 50, 100)
    })
    self.schedule('x', start + 100, 100)
    vi.advanceTimersByTime(1000)
    const times = checked.map(([, at]) => at - start)
    expect(times).toHaveLength(5)
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(100)
  })

  it('moves an item scheduled twice to its latest time', () => {
    const { self, checked } = buckets()
    self.schedule('x', start + 100, 1)
    self.schedule('x', start + 300, 1)
    expect(self.size).toBe(1)
    vi.advanceTimersByTime(200)
    expect(checked).toEqual([])
    vi.advanceTimersByTime(100)
    expect(checked).toEqual([['x', start + 300]])
  })
})
