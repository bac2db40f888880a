import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RetainedIndex, topicMatches } from '../src/topic/index.js'
import { countNodes } from '../src/topic/retained-index.js'

function topicsMatching(index: RetainedIndex<string>, filter: string): string[] {
  const out: string[] = []
  index.forEachMatch(filter, (value, topic) => {
    expect(value).toBe(`v:${topic}`)
    out.push(topic)
  })
  return out.sort()
}

function indexOf(...topics: string[]): RetainedIndex<string> {
  const index = new RetainedIndex<string>()
  for (const topic of topics) index.set(topic, `v:${topic}`)
  return index
}

describe('RetainedIndex', () => {
  it('sets, replaces (returning what it replaced), gets and deletes by exact topic', () => {
    const index = new RetainedIndex<number>()
    expect(index.set('a/b', 1)).toBeUndefined()
    expect(index.set('a', 2)).toBeUndefined()
    expect(index.set('a/b', 3)).toBe(1)
    expect(index.size).toBe(2)
    expect(index.get('a/b')).toBe(3)
    expect(index.get('a')).toBe(2)
    expect(index.get('a/b/c')).toBeUndefined()
    expect(index.get('b')).toBeUndefined()
    expect(index.get('a/+')).toBeUndefined()
    expect(index.delete('a/b/c')).toBe(false)
    expect(index.delete('a/b')).toBe(true)
    expect(index.delete('a/b')).toBe(false)
    expect(index.size).toBe(1)
    expect(index.get('a')).toBe(2)
  })

  it('finds exact filters without wildcards', () => {
    const index = indexOf('a/b', 'a', 'a/b/c')
    expect(topicsMatching(index, 'a/b')).toEqual(['a/b'])
    expect(topicsMatching(index, 'a/x')).toEqual([])
    expect(topicsMatching(index, 'x')).toEqual([])
  })

  it('treats empty levels as real levels', () => {
    const index = indexOf('a//b', '/a', 'a/', 'a', '/', 'a/b')
    expect(topicsMatching(index, 'a/+/b')).toEqual(['a//b'])
    expect(topicsMatching(index, '+/+')).toEqual(['/', '/a', 'a/', 'a/b'])
    expect(topicsMatching(index, '+')).toEqual(['a'])
    expect(topicsMatching(index, '/#')).toEqual(['/', '/a'])
    expect(topicsMatching(index, 'a/')).toEqual(['a/'])
  })

  it('[MQTT-4.7.1-3] + matches exactly one level', () => {
    const index = indexOf('sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport', 'sport/')
    expect(topicsMatching(index, 'sport/tennis/+')).toEqual(['sport/tennis/player1'])
    expect(topicsMatching(index, 'sport/+')).toEqual(['sport/'])
    expect(topicsMatching(index, '+/+/+/+')).toEqual(['sport/tennis/player1/ranking'])
  })

  it('[MQTT-4.7.1-2] # matches the parent level and any number of child levels', () => {
    const index = indexOf(
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon',
      'sport/tennis/player2',
      'sport',
    )
    expect(topicsMatching(index, 'sport/tennis/player1/#')).toEqual([
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon',
    ])
    expect(topicsMatching(index, 'sport/#')).toHaveLength(5)
    expect(topicsMatching(index, '#')).toHaveLength(5)
    expect(topicsMatching(index, '+/tennis/#')).toHaveLength(4)
  })

  it('[MQTT-4.7.2-1] wildcards at the first level do not match topics starting with $', () => {
    const index = indexOf('$SYS/monitor/Clients', '$SYS', 'SYS/monitor/Clients', 'a/$x')
    expect(topicsMatching(index, '#')).toEqual(['SYS/monitor/Clients', 'a/$x'])
    expect(topicsMatching(index, '+/monitor/Clients')).toEqual(['SYS/monitor/Clients'])
    expect(topicsMatching(index, '+')).toEqual([])
    expect(topicsMatching(index, '$SYS/#')).toEqual(['$SYS', '$SYS/monitor/Clients'])
    expect(topicsMatching(index, '$SYS/monitor/+')).toEqual(['$SYS/monitor/Clients'])
    // only the first level of the topic counts
    expect(topicsMatching(index, 'a/+')).toEqual(['a/$x'])
    expect(topicsMatching(index, 'a/#')).toEqual(['a/$x'])
  })

  it('keeps values that are undefined and counts them', () => {
    const index = new RetainedIndex<undefined>()
    index.set('a', undefined)
    index.set('a', undefined)
    expect(index.size).toBe(1)
    expect(index.match('#')).toEqual([undefined])
    expect(index.delete('a')).toBe(true)
    expect(index.size).toBe(0)
  })

  it('prunes empty nodes on delete, and only those', () => {
    const index = indexOf('a/b/c', 'a/d', 'a')
    expect(countNodes(index)).toBe(5) // root, a, b, c, d
    index.delete('a/b/c')
    expect(countNodes(index)).toBe(3)
    index.delete('a')
    expect(countNodes(index)).toBe(3) // 'a' still leads to 'a/d'
    expect(index.match('a/#')).toEqual(['v:a/d'])
    index.delete('a/d')
    expect(countNodes(index)).toBe(1)
    // deleting what is not there changes nothing
    index.set('a/b', 'x')
    index.delete('a')
    index.delete('a/b/c')
    expect(countNodes(index)).toBe(3)
    expect(index.size).toBe(1)
  })
})

const levelArb = fc.constantFrom('a', 'b', '', '$x')
const topicArb = fc.array(levelArb, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/'))
const filterArb = fc
  .tuple(
    fc.array(fc.constantFrom('a', 'b', '', '$x', '+'), { maxLength: 3 }),
    fc.constantFrom('a', 'b', '', '$x', '+', '#'),
  )
  .map(([init, last]) => [...init, last].join('/'))

/** Distinct level prefixes of the stored topics, plus the root: the node count of a pruned index. */
function expectedNodes(topics: Iterable<string>): number {
  const prefixes = new Set<string>()
  for (const topic of topics) {
    const levels = topic.split('/')
    for (let i = 1; i <= levels.length; i++) prefixes.add(JSON.stringify(levels.slice(0, i)))
  }
  return prefixes.size + 1
}

describe('RetainedIndex properties', () => {
  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1] finds exactly what a naive scan with topicMatches finds', () => {
    fc.assert(
      fc.property(
        fc.array(topicArb, { maxLength: 30 }),
        fc.array(filterArb, { minLength: 1, maxLength: 10 }),
        (topics, filters) => {
          const index = new RetainedIndex<string>()
          for (const topic of topics) index.set(topic, `v:${topic}`)
          const stored = [...new Set(topics)]
          for (const filter of filters) {
            const expected = stored.filter((topic) => topicMatches(filter, topic)).sort()
            expect(topicsMatching(index, filter)).toEqual(expected)
            expect(index.match(filter).sort()).toEqual(expected.map((t) => `v:${t}`))
          }
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('keeps size, get results and the pruned node count right under set/delete churn', () => {
    const opArb = fc.tuple(fc.boolean(), topicArb, fc.nat(100))
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const index = new RetainedIndex<number>()
        const model = new Map<string, number>()
        for (const [set, topic, value] of ops) {
          if (set) {
            index.set(topic, value)
            model.set(topic, value)
          } else {
            expect(index.delete(topic)).toBe(model.delete(topic))
          }
          expect(index.size).toBe(model.size)
          expect(countNodes(index)).toBe(expectedNodes(model.keys()))
        }
        for (const [topic, value] of model) expect(index.get(topic)).toBe(value)
        for (const topic of model.keys()) index.delete(topic)
        expect(index.size).toBe(0)
        expect(countNodes(index)).toBe(1)
      }),
      { numRuns: 1000 },
    )
  })
})
