import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SubscriptionTrie, topicMatches } from '../src/topic/index.js'
import { countNodes } from '../src/topic/subscription-trie.js'

type Hit = [filter: string, key: string, value: number]

function hits(trie: SubscriptionTrie<number>, topic: string): Hit[] {
  const out: Hit[] = []
  trie.forEachMatch(topic, (value, key, filter) => {
    out.push([filter, key, value])
  })
  return out.sort(byHit)
}

function byHit(a: Hit, b: Hit): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : a[2] - b[2]
}

function filtersMatching(trie: SubscriptionTrie<number>, topic: string): string[] {
  return hits(trie, topic).map(([filter]) => filter)
}

describe('SubscriptionTrie', () => {
  it('adds, replaces, gets and removes entries by (filter, key)', () => {
    const trie = new SubscriptionTrie<number>()
    expect(trie.add('a/b', 'c1', 1)).toBe(true)
    expect(trie.add('a/b', 'c2', 2)).toBe(true)
    expect(trie.add('a/+', 'c1', 3)).toBe(true)
    expect(trie.size).toBe(3)
    expect(trie.add('a/b', 'c1', 10)).toBe(false)
    expect(trie.size).toBe(3)
    expect(trie.get('a/b', 'c1')).toBe(10)
    expect(trie.get('a/+', 'c1')).toBe(3)
    expect(trie.get('a/+', 'c2')).toBeUndefined()
    expect(trie.get('a', 'c1')).toBeUndefined()
    expect(trie.get('a/b/c', 'c1')).toBeUndefined()
    expect(hits(trie, 'a/b')).toEqual([
      ['a/+', 'c1', 3],
      ['a/b', 'c1', 10],
      ['a/b', 'c2', 2],
    ])
    expect(trie.remove('a/b', 'c1')).toBe(10)
    expect(trie.remove('a/b', 'c1')).toBeUndefined()
    expect(trie.remove('a/x', 'c1')).toBeUndefined()
    expect(trie.remove('a', 'c1')).toBeUndefined()
    expect(trie.size).toBe(2)
    expect(trie.match('a/b').sort()).toEqual([2, 3])
  })

  it('keeps values that are undefined and counts them', () => {
    const trie = new SubscriptionTrie<undefined>()
    expect(trie.add('a', 'k', undefined)).toBe(true)
    expect(trie.add('a', 'k', undefined)).toBe(false)
    expect(trie.size).toBe(1)
    expect(trie.match('a')).toEqual([undefined])
    trie.remove('a', 'k')
    expect(trie.size).toBe(0)
    expect(countNodes(trie)).toBe(1)
  })

  it('does not mistake a value for a key when values are strings', () => {
    const trie = new SubscriptionTrie<string>()
    trie.add('a', 'k1', 'k2')
    expect(trie.add('a', 'k2', 'x')).toBe(true)
    expect(trie.get('a', 'k2')).toBe('x')
    expect(trie.get('a', 'k1')).toBe('k2')
    expect(trie.remove('a', 'k2')).toBe('x')
    expect(trie.get('a', 'k1')).toBe('k2')
    expect(trie.size).toBe(1)
  })

  it('treats empty levels as real levels', () => {
    const trie = new SubscriptionTrie<number>()
    for (const filter of ['a//b', '/a', 'a/', 'a', '/', '+/+', '+', 'a/+/b']) trie.add(filter, 'k', 0)
    expect(filtersMatching(trie, 'a//b')).toEqual(['a/+/b', 'a//b'])
    expect(filtersMatching(trie, '/a')).toEqual(['+/+', '/a'])
    expect(filtersMatching(trie, 'a/')).toEqual(['+/+', 'a/'])
    expect(filtersMatching(trie, 'a')).toEqual(['+', 'a'])
    expect(filtersMatching(trie, '/')).toEqual(['+/+', '/'])
    expect(filtersMatching(trie, 'a/b')).toEqual(['+/+'])
  })

  it('[MQTT-4.7.1-3] + matches exactly one level, an empty one included', () => {
    const trie = new SubscriptionTrie<number>()
    trie.add('sport/tennis/+', 'k', 0)
    trie.add('sport/+', 'k', 0)
    expect(filtersMatching(trie, 'sport/tennis/player1')).toEqual(['sport/tennis/+'])
    expect(filtersMatching(trie, 'sport/tennis/player1/ranking')).toEqual([])
    expect(filtersMatching(trie, 'sport')).toEqual([])
    expect(filtersMatching(trie, 'sport/')).toEqual(['sport/+'])
    expect(filtersMatching(trie, 'sport/tennis/')).toEqual(['sport/tennis/+'])
  })

  it('[MQTT-4.7.1-2] # matches the parent level and any number of child levels', () => {
    const trie = new SubscriptionTrie<number>()
    trie.add('sport/tennis/player1/#', 'k', 0)
    trie.add('#', 'k', 0)
    trie.add('+/#', 'k', 0)
    expect(filtersMatching(trie, 'sport/tennis/player1')).toEqual(['#', '+/#', 'sport/tennis/player1/#'])
    expect(filtersMatching(trie, 'sport/tennis/player1/ranking')).toEqual([
      '#',
      '+/#',
      'sport/tennis/player1/#',
    ])
    expect(filtersMatching(trie, 'sport/tennis/player1/score/wimbledon')).toEqual([
      '#',
      '+/#',
      'sport/tennis/player1/#',
    ])
    expect(filtersMatching(trie, 'sport/tennis/player2')).toEqual(['#', '+/#'])
    expect(filtersMatching(trie, 'sport')).toEqual(['#', '+/#'])
  })

  it('[MQTT-4.7.2-1] wildcards at the first level do not match topics starting with $', () => {
    const trie = new SubscriptionTrie<number>()
    for (const filter of ['#', '+', '+/#', '+/monitor/Clients', '$SYS/#', '$SYS/monitor/+', '$SYS']) {
      trie.add(filter, 'k', 0)
    }
    expect(filtersMatching(trie, '$SYS/monitor/Clients')).toEqual(['$SYS/#', '$SYS/monitor/+'])
    expect(filtersMatching(trie, '$SYS')).toEqual(['$SYS', '$SYS/#'])
    expect(filtersMatching(trie, 'SYS/monitor/Clients')).toEqual(['#', '+/#', '+/monitor/Clients'])
    // only the first level of the topic counts
    trie.add('a/+', 'k', 0)
    trie.add('a/#', 'k', 0)
    expect(filtersMatching(trie, 'a/$x')).toEqual(['#', '+/#', 'a/#', 'a/+'])
  })

  it('passes the filter and key of each entry to the visitor', () => {
    const trie = new SubscriptionTrie<string>()
    trie.add('a/#', 'c1', 'v1')
    trie.add('a/b', 'c2', 'v2')
    const seen: string[] = []
    trie.forEachMatch('a/b', (value, key, filter) => {
      seen.push(`${filter} ${key} ${value}`)
    })
    expect(seen.sort()).toEqual(['a/# c1 v1', 'a/b c2 v2'])
  })

  it('handles many keys on one filter (indexed entries)', () => {
    const trie = new SubscriptionTrie<number>()
    for (let i = 0; i < 100; i++) trie.add('a/+', `c${i}`, i)
    for (let i = 0; i < 100; i += 2) expect(trie.add('a/+', `c${i}`, i + 1000)).toBe(false)
    expect(trie.size).toBe(100)
    for (let i = 0; i < 100; i += 3) expect(trie.remove('a/+', `c${i}`)).toBe(i % 2 === 0 ? i + 1000 : i)
    const expected = new Map<string, number>()
    for (let i = 0; i < 100; i++) if (i % 3 !== 0) expected.set(`c${i}`, i % 2 === 0 ? i + 1000 : i)
    expect(trie.size).toBe(expected.size)
    expect(trie.match('a/x').sort((x, y) => x - y)).toEqual([...expected.values()].sort((x, y) => x - y))
    for (let i = 0; i < 100; i++) expect(trie.get('a/+', `c${i}`)).toBe(expected.get(`c${i}`))
    for (let i = 0; i < 100; i++) trie.remove('a/+', `c${i}`)
    expect(trie.size).toBe(0)
    expect(countNodes(trie)).toBe(1)
  })

  it('prunes empty nodes on remove, and only those', () => {
    const trie = new SubscriptionTrie<number>()
    trie.add('a/b/c', 'k', 0)
    trie.add('a/+/#', 'k', 0)
    trie.add('a', 'k', 0)
    expect(countNodes(trie)).toBe(6) // root, a, b, c, +, #
    trie.remove('a/b/c', 'k')
    expect(countNodes(trie)).toBe(4)
    expect(filtersMatching(trie, 'a/x/y')).toEqual(['a/+/#'])
    trie.remove('a/+/#', 'k')
    expect(countNodes(trie)).toBe(2)
    expect(filtersMatching(trie, 'a')).toEqual(['a'])
    trie.remove('a', 'k')
    expect(countNodes(trie)).toBe(1)
    // removing what is not there changes nothing
    trie.add('a/b', 'k', 0)
    trie.remove('a/b', 'other')
    trie.remove('a/b/c', 'k')
    trie.remove('a', 'k')
    expect(countNodes(trie)).toBe(3)
    expect(trie.size).toBe(1)
  })

  it('does not allocate a result when nothing matches', () => {
    const trie = new SubscriptionTrie<number>()
    trie.add('a/b', 'k', 0)
    let calls = 0
    trie.forEachMatch('x/y', () => {
      calls++
    })
    expect(calls).toBe(0)
    expect(trie.match('x/y')).toEqual([])
  })
})

// Small alphabets, so random filters and topics often match.
const topicLevel = fc.constantFrom('a', 'b', '', '$x')
const topicArb = fc.array(topicLevel, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/'))
const filterArb = fc
  .tuple(
    fc.array(fc.constantFrom('a', 'b', '', '$x', '+'), { maxLength: 3 }),
    fc.constantFrom('a', 'b', '', '$x', '+', '#'),
  )
  .map(([init, last]) => [...init, last].join('/'))
const keyArb = fc.constantFrom('k1', 'k2', 'k3')

type Op =
  | { add: true; filter: string; key: string; value: number }
  | { add: false; filter: string; key: string }
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ add: fc.constant(true as const), filter: filterArb, key: keyArb, value: fc.nat(100) }),
  fc.record({ add: fc.constant(false as const), filter: filterArb, key: keyArb }),
)

/** Distinct filter prefixes (in levels) of the model's filters, plus the root: the node count of a pruned trie. */
function expectedNodes(model: Map<string, [filter: string, key: string, value: number]>): number {
  const prefixes = new Set<string>()
  for (const [filter] of model.values()) {
    const levels = filter.split('/')
    for (let i = 1; i <= levels.length; i++) prefixes.add(JSON.stringify(levels.slice(0, i)))
  }
  return prefixes.size + 1
}

describe('SubscriptionTrie properties', () => {
  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1] matches exactly what a naive scan with topicMatches finds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(filterArb, keyArb, fc.nat(100)), { maxLength: 30 }),
        fc.array(topicArb, { minLength: 1, maxLength: 10 }),
        (entries, topics) => {
          const trie = new SubscriptionTrie<number>()
          const model = new Map<string, Hit>()
          for (const [filter, key, value] of entries) {
            trie.add(filter, key, value)
            model.set(`${filter}\u0000${key}`, [filter, key, value])
          }
          for (const topic of topics) {
            const expected = [...model.values()].filter(([filter]) => topicMatches(filter, topic)).sort(byHit)
            expect(hits(trie, topic)).toEqual(expected)
            expect(trie.match(topic).sort((x, y) => x - y)).toEqual(
              expected.map((h) => h[2]).sort((x, y) => x - y),
            )
          }
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('keeps size, add/remove/get results and the pruned node count right under add/remove churn', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.array(topicArb, { maxLength: 5 }), (ops, topics) => {
        const trie = new SubscriptionTrie<number>()
        const model = new Map<string, Hit>()
        for (const op of ops) {
          const id = `${op.filter}\u0000${op.key}`
          if (op.add) {
            expect(trie.add(op.filter, op.key, op.value)).toBe(!model.has(id))
            model.set(id, [op.filter, op.key, op.value])
          } else {
            expect(trie.remove(op.filter, op.key)).toBe(model.get(id)?.[2])
            model.delete(id)
          }
          expect(trie.size).toBe(model.size)
          expect(countNodes(trie)).toBe(expectedNodes(model))
        }
        for (const [filter, key, value] of model.values()) expect(trie.get(filter, key)).toBe(value)
        for (const topic of topics) {
          const expected = [...model.values()].filter(([filter]) => topicMatches(filter, topic)).sort(byHit)
          expect(hits(trie, topic)).toEqual(expected)
        }
        for (const [filter, key] of model.values()) trie.remove(filter, key)
        expect(trie.size).toBe(0)
        expect(countNodes(trie)).toBe(1)
      }),
      { numRuns: 1000 },
    )
  })

  it('stays consistent with many keys per filter (past the indexing threshold)', () => {
    const manyKeys = fc.integer({ min: 0, max: 30 }).map((i) => `c${i}`)
    const fewFilters = fc.constantFrom('a/+', 'a/#', 'a/b')
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ add: fc.constant(true as const), filter: fewFilters, key: manyKeys, value: fc.nat(100) }),
      fc.record({ add: fc.constant(false as const), filter: fewFilters, key: manyKeys }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const trie = new SubscriptionTrie<number>()
        const model = new Map<string, Hit>()
        for (const o of ops) {
          const id = `${o.filter}\u0000${o.key}`
          if (o.add) {
            expect(trie.add(o.filter, o.key, o.value)).toBe(!model.has(id))
            model.set(id, [o.filter, o.key, o.value])
          } else {
            expect(trie.remove(o.filter, o.key)).toBe(model.get(id)?.[2])
            model.delete(id)
          }
        }
        expect(trie.size).toBe(model.size)
        for (const [filter, key, value] of model.values()) expect(trie.get(filter, key)).toBe(value)
        expect(hits(trie, 'a/b')).toEqual([...model.values()].sort(byHit))
      }),
      { numRuns: 300 },
    )
  })
})
