import { describe, expect, it } from 'vitest'
import { InflightWrites } from '../src/inflight-writes.js'

/** An InflightWrites whose sends are recorded and answered with `answer`. */
function recorded(answer: (writes: (string | number)[]) => Promise<number[]>) {
  const sent: [string, (string | number)[]][] = []
  const writes = new InflightWrites((clientId, list) => {
    sent.push([clientId, [...list]])
    return answer(list)
  })
  return { writes, sent }
}

const ones = (list: (string | number)[]) => Promise.resolve(list.filter((_, i) => i % 4 === 0).map(() => 1))

describe('InflightWrites', () => {
  it('sends the writes of one client made in one tick as one call, in the order made, and answers each', async () => {
    const { writes, sent } = recorded(async (list) => list.filter((_, i) => i % 4 === 0).map((_, i) => i - 1))
    const answers = Promise.all([
      writes.store('a', 1, 'm1', undefined),
      writes.store('b', 1, 'n1', 'pub\u00001'),
      writes.remove('a', 7),
      writes.store('a', 2, 'm2', undefined),
    ])
    expect(sent).toEqual([]) // not before the tick ends
    await answers
    expect(sent).toEqual([
      ['a', ['s', 1, 'm1', '', 'r', 7, '', '', 's', 2, 'm2', '']],
      ['b', ['s', 1, 'n1', 'pub\u00001']],
    ])
    // Each write gets its own result, in order: a's store -1, b's -1 (the first of its call), a's second 1.
    expect(await answers).toEqual([-1, -1, undefined, 1])
  })

  it("flush sends a client's pending writes at once, before what is asked after it; the others wait for the tick", async () => {
    const { writes, sent } = recorded(ones)
    const first = writes.store('a', 1, 'm1', undefined)
    const other = writes.store('b', 1, 'n1', undefined)
    writes.flush('a')
    expect(sent).toEqual([['a', ['s', 1, 'm1', '']]])
    const second = writes.store('a', 2, 'm2', undefined)
    await Promise.all([first, other, second])
    expect(sent.map(([clientId, list]) => `${clientId} ${list.join(',')}`)).toEqual([
      'a s,1,m1,',
      'b s,1,n1,',
      'a s,2,m2,',
    ])
  })

  it('a failed call fails every write it carried', async () => {
    const { writes } = recorded(() => Promise.reject(new Error('Redis away')))
    const results = await Promise.allSettled([writes.store('a', 1, 'm1', undefined), writes.remove('a', 1)])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
  })
})
