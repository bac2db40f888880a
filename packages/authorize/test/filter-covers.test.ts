import { topicMatches, validateTopicFilter } from '@mqtt-stack/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { filterCovers } from '../src/index.js'

/** Levels rules and filters are made of; topics also use 'z', a level no rule names. */
const LEVELS = ['a', 'b', '$x', '', '+', '#'] as const
const TOPIC_LEVELS = ['a', 'b', '$x', '', 'z']
const MAX_DEPTH = 3

/** Every topic name of 1..MAX_DEPTH+1 levels over TOPIC_LEVELS. */
const UNIVERSE: string[] = (() => {
  const topics: string[] = []
  let layer = ['']
  for (let depth = 1; depth <= MAX_DEPTH + 1; depth++) {
    layer = layer.flatMap((prefix) =>
      TOPIC_LEVELS.map((level) => (depth === 1 ? level : `${prefix}/${level}`)),
    )
    topics.push(...layer)
  }
  return topics
})()

/** The definition: every topic the filter matches, the pattern matches too. */
function bruteForceCovers(pattern: string, filter: string): boolean {
  return UNIVERSE.every((topic) => !topicMatches(filter, topic) || topicMatches(pattern, topic))
}

const filterArb = fc
  .array(fc.constantFrom(...LEVELS), { minLength: 1, maxLength: MAX_DEPTH })
  .map((levels) => levels.join('/'))
  .filter((filter) => validateTopicFilter(filter, { shared: false }) === undefined)

describe('filterCovers', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a/#', false],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/#', true],
    ['a/#', 'a/+/c', true],
    ['a/#', 'b/#', false],
    ['a/+/#', 'a/#', false],
    ['+/+', 'a/+', true],
    ['+', '+/+', false],
    ['#', '#', true],
    ['#', 'a/+/#', true],
    ['a', '#', false],
    ['+/#', '#', true],
    ['+/+/#', '#', false],
    ['a/+/#', 'a/#', false],
    ['a/b', '+/b', false],
    ['+/b', 'a/b', true],
    // [MQTT-4.7.2-1] a rule starting with a wildcard does not reach $ topics
    ['#', '$SYS/#', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/broker/+', true],
    ['a//b', 'a//b', true],
    ['a/+/b', 'a//b', true],
  ]
  for (const [pattern, filter, expected] of cases) {
    it(`${expected ? 'covers' : 'does not cover'}: rule "${pattern}", filter "${filter}"`, () => {
      expect(filterCovers(pattern, filter)).toBe(expected)
    })
  }

  it('agrees with a brute-force check over every topic of up to four levels (property)', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (pattern, filter) => {
        expect(filterCovers(pattern, filter)).toBe(bruteForceCovers(pattern, filter))
      }),
      { numRuns: 2000 },
    )
  })

  it('every filter covers itself, and covering implies matching for topic names (property)', () => {
    fc.assert(
      fc.property(filterArb, (filter) => {
        expect(filterCovers(filter, filter)).toBe(true)
        for (const topic of UNIVERSE) {
          if (filterCovers(filter, topic) && validateTopicFilter(topic) === undefined)
            expect(topicMatches(filter, topic)).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })
})
