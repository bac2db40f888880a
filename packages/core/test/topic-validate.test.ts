import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  isSystemTopic,
  parseSharedFilter,
  type TopicProblem,
  type TopicRules,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from '../src/topic/index.js'

describe('validateTopicName', () => {
  it('accepts ordinary names, empty levels and $ topics', () => {
    for (const topic of [
      'a',
      'a/b/c',
      '/',
      '//',
      '/a',
      'a/',
      'a//b',
      ' ',
      '$SYS/broker/load',
      'a$b',
      'é/😀',
    ]) {
      expect(validateTopicName(topic), topic).toBeUndefined()
    }
  })

  it('[MQTT-4.7.3-1] rejects the empty string', () => {
    expect(validateTopicName('')).toBe('empty')
  })

  it('[MQTT-4.7.3-2] rejects the null character', () => {
    expect(validateTopicName('a\u0000b')).toBe('null-character')
    expect(validateTopicName('\u0000')).toBe('null-character')
    expect(validateTopicName('a/\u0000')).toBe('null-character')
  })

  it('[MQTT-3.3.2-2] rejects wildcards in a topic name', () => {
    for (const topic of ['+', '#', 'a/+', 'a/#', 'a+', 'a/b#', '+/a', 'sport/tennis/#']) {
      expect(validateTopicName(topic), topic).toBe('wildcard-in-topic-name')
    }
  })

  it('[MQTT-1.5.3-1] rejects lone surrogates and accepts surrogate pairs', () => {
    expect(validateTopicName('a\ud800')).toBe('invalid-utf8')
    expect(validateTopicName('\ud800a')).toBe('invalid-utf8')
    expect(validateTopicName('a\udc00b')).toBe('invalid-utf8')
    expect(validateTopicName('\udc00\ud800')).toBe('invalid-utf8')
    expect(validateTopicName('\ud83d\ude00')).toBeUndefined()
  })

  it('[MQTT-4.7.3-3] rejects more than 65535 UTF-8 bytes, counting bytes not code units (MQTT 3.1.1 and 5.0)', () => {
    expect(validateTopicName('a'.repeat(65535))).toBeUndefined()
    expect(validateTopicName('a'.repeat(65536))).toBe('too-long')
    // '€' is one UTF-16 code unit and three UTF-8 bytes
    expect(validateTopicName('€'.repeat(21845))).toBeUndefined()
    expect(validateTopicName('€'.repeat(21846))).toBe('too-long')
    // 'é' is two bytes; '😀' is two code units and four bytes
    expect(validateTopicName(`${'é'.repeat(32767)}a`)).toBeUndefined()
    expect(validateTopicName(`${'é'.repeat(32767)}ab`)).toBe('too-long')
    expect(validateTopicName(`${'😀'.repeat(16383)}abc`)).toBeUndefined()
    expect(validateTopicName('😀'.repeat(16384))).toBe('too-long')
  })

  it('rejects more levels than maxLevels (default 128)', () => {
    const levels = (n: number) => Array.from({ length: n }, () => 'a').join('/')
    expect(validateTopicName(levels(128))).toBeUndefined()
    expect(validateTopicName(levels(129))).toBe('too-many-levels')
    expect(validateTopicName('/'.repeat(127))).toBeUndefined()
    expect(validateTopicName('/'.repeat(128))).toBe('too-many-levels')
    expect(validateTopicName('a/b', { maxLevels: 2 })).toBeUndefined()
    expect(validateTopicName('a/b/', { maxLevels: 2 })).toBe('too-many-levels')
  })

  it('does not treat $share/ specially', () => {
    expect(validateTopicName('$share/g/a')).toBeUndefined()
    expect(validateTopicName('$share//')).toBeUndefined()
  })
})

describe('validateTopicFilter', () => {
  it('accepts wildcards that occupy whole levels', () => {
    for (const filter of [
      '#',
      '+',
      '+/+',
      '/+',
      '+/',
      'a/#',
      'a/+/b',
      '+/#',
      '/#',
      '//#',
      'sport/+/player1',
    ]) {
      expect(validateTopicFilter(filter), filter).toBeUndefined()
    }
  })

  it('[MQTT-4.7.3-1] rejects the empty string', () => {
    expect(validateTopicFilter('')).toBe('empty')
  })

  it('[MQTT-4.7.3-2] rejects the null character', () => {
    expect(validateTopicFilter('a/\u0000/#')).toBe('null-character')
  })

  it('[MQTT-4.7.1-2] rejects # that is not the last level', () => {
    for (const filter of ['#/a', 'a/#/b', '#/', '#/#']) {
      expect(validateTopicFilter(filter), filter).toBe('invalid-multi-level-wildcard')
    }
  })

  it('[MQTT-4.7.1-2] rejects # that does not occupy a whole level', () => {
    for (const filter of ['a#', 'a/b#', '#a', 'a/#b', '##', 'sport/tennis#']) {
      expect(validateTopicFilter(filter), filter).toBe('invalid-multi-level-wildcard')
    }
  })

  it('[MQTT-4.7.1-3] rejects + that does not occupy a whole level', () => {
    for (const filter of ['a+', '+a', 'a/+b', 'a/b+/c', '++', 'sport+']) {
      expect(validateTopicFilter(filter), filter).toBe('invalid-single-level-wildcard')
    }
  })

  it('[MQTT-1.5.3-1] rejects lone surrogates', () => {
    expect(validateTopicFilter('a/\ud800/#')).toBe('invalid-utf8')
    expect(validateTopicFilter('\ud83d\ude00/+')).toBeUndefined()
  })

  it('[MQTT-4.7.3-3] rejects more than 65535 UTF-8 bytes', () => {
    expect(validateTopicFilter(`${'€'.repeat(21844)}/#`)).toBeUndefined()
    expect(validateTopicFilter(`${'€'.repeat(21845)}/#`)).toBe('too-long')
    // the share name's bytes count too
    expect(validateTopicFilter(`$share/${'€'.repeat(21842)}/#`)).toBeUndefined()
    expect(validateTopicFilter(`$share/${'€'.repeat(21843)}/#`)).toBe('too-long')
    expect(validateTopicFilter(`$share/g/${'€'.repeat(21842)}`)).toBeUndefined()
    expect(validateTopicFilter(`$share/g/${'€'.repeat(21842)}a`)).toBe('too-long')
  })

  it('rejects more levels than maxLevels', () => {
    expect(validateTopicFilter('+/+/#', { maxLevels: 3 })).toBeUndefined()
    expect(validateTopicFilter('+/+/+/#', { maxLevels: 3 })).toBe('too-many-levels')
  })

  describe('MQTT 5.0 shared subscriptions', () => {
    it('[MQTT-4.8.2-1] accepts $share/{group}/{filter}', () => {
      for (const filter of [
        '$share/g/a',
        '$share/group-1/a/+/b',
        '$share/g/#',
        '$share/g/+',
        '$share/g/$SYS/#',
      ]) {
        expect(validateTopicFilter(filter), filter).toBeUndefined()
      }
    })

    it('[MQTT-4.8.2-1] rejects an empty share name', () => {
      expect(validateTopicFilter('$share//a')).toBe('invalid-shared-subscription')
      expect(validateTopicFilter('$share/')).toBe('invalid-shared-subscription')
    })

    it('[MQTT-4.8.2-2] rejects + or # in the share name', () => {
      expect(validateTopicFilter('$share/g+/a')).toBe('invalid-shared-subscription')
      expect(validateTopicFilter('$share/+/a')).toBe('invalid-shared-subscription')
      expect(validateTopicFilter('$share/#/a')).toBe('invalid-shared-subscription')
      expect(validateTopicFilter('$share/#')).toBe('invalid-shared-subscription')
    })

    it('[MQTT-4.8.2-2] rejects a share name not followed by / and a filter', () => {
      expect(validateTopicFilter('$share/g')).toBe('invalid-shared-subscription')
      expect(validateTopicFilter('$share/g/')).toBe('invalid-shared-subscription')
    })

    it('validates the inner filter as a filter', () => {
      expect(validateTopicFilter('$share/g/a#')).toBe('invalid-multi-level-wildcard')
      expect(validateTopicFilter('$share/g/#/a')).toBe('invalid-multi-level-wildcard')
      expect(validateTopicFilter('$share/g/a+')).toBe('invalid-single-level-wildcard')
      expect(validateTopicFilter('$share/g/a\u0000')).toBe('null-character')
      expect(validateTopicFilter('$share/g\u0000/a')).toBe('null-character')
      expect(validateTopicFilter('$share/\ud800/a')).toBe('invalid-utf8')
      // maxLevels counts the inner filter's levels
      expect(validateTopicFilter('$share/g/a/b', { maxLevels: 2 })).toBeUndefined()
      expect(validateTopicFilter('$share/g/a/b/c', { maxLevels: 2 })).toBe('too-many-levels')
    })

    it('treats $share/ as an ordinary filter when shared is false', () => {
      expect(validateTopicFilter('$share//a', { shared: false })).toBeUndefined()
      expect(validateTopicFilter('$share/g', { shared: false })).toBeUndefined()
      expect(validateTopicFilter('$share/g+/a', { shared: false })).toBe('invalid-single-level-wildcard')
      expect(validateTopicFilter('$share/g/a/b', { shared: false, maxLevels: 3 })).toBe('too-many-levels')
    })

    it('does not treat $share without a slash, or $sharex/, as shared', () => {
      expect(validateTopicFilter('$share')).toBeUndefined()
      expect(validateTopicFilter('$sharex//a')).toBeUndefined()
      expect(validateTopicFilter('$SHARE//a')).toBeUndefined()
    })
  })
})

describe('parseSharedFilter', () => {
  it('splits $share/{group}/{filter}', () => {
    expect(parseSharedFilter('$share/g/a/+/#')).toEqual({ group: 'g', filter: 'a/+/#' })
    expect(parseSharedFilter('$share/group/#')).toEqual({ group: 'group', filter: '#' })
    expect(parseSharedFilter('$share/g//')).toEqual({ group: 'g', filter: '/' })
  })

  it('returns undefined for other filters and malformed shared ones', () => {
    for (const filter of [
      'a/b',
      '#',
      '$share',
      '$share/',
      '$share/g',
      '$share/g/',
      '$share//a',
      '$sharex/g/a',
    ]) {
      expect(parseSharedFilter(filter), filter).toBeUndefined()
    }
  })
})

describe('isSystemTopic', () => {
  it('is true exactly for topics starting with $', () => {
    expect(isSystemTopic('$SYS/broker')).toBe(true)
    expect(isSystemTopic('$')).toBe(true)
    expect(isSystemTopic('a/$SYS')).toBe(false)
    expect(isSystemTopic('/$SYS')).toBe(false)
    expect(isSystemTopic('')).toBe(false)
  })
})

describe('topicMatches', () => {
  const cases: [filter: string, topic: string, matches: boolean][] = [
    // MQTT 4.7.1.2: sport/tennis/player1/# matches the parent and any children
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/tennis/player1/#', 'sport/tennis/player2', false],
    ['sport/#', 'sport', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    // MQTT 4.7.1.3: '+' matches exactly one level
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['+', '', true],
    ['a/+/c', 'a//c', true],
    ['a//c', 'a//c', true],
    ['a//c', 'a/c', false],
    ['a/', 'a', false],
    ['a', 'a/', false],
    ['a/#', 'a/', true],
    ['+/#', 'a', true],
    ['a/b', 'a/b', true],
    ['a/b', 'A/b', false],
    // MQTT 4.7.2
    ['#', '$SYS/x', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['$SYS/#', '$SYS', true],
    ['a/#', 'a/$x', true],
    ['a/+', 'a/$x', true],
  ]
  it.each(cases)('[MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1] %s vs %s -> %s', (filter, topic, matches) => {
    expect(topicMatches(filter, topic)).toBe(matches)
  })
})

/**
 * A second, deliberately different implementation (split into levels, then test each rule): every problem
 * the string has. The validator must report one of them, and none when this set is empty.
 */
function allProblems(s: string, isFilter: boolean, rules: TopicRules = {}): Set<TopicProblem> {
  const problems = new Set<TopicProblem>()
  if (s === '') return problems.add('empty')
  if (s.includes('\u0000')) problems.add('null-character')
  if (/\p{Cs}/u.test(s)) problems.add('invalid-utf8')
  else if (Buffer.byteLength(s, 'utf8') > 65535) problems.add('too-long')
  let body = s
  if (isFilter && rules.shared !== false && s.startsWith('$share/')) {
    const rest = s.slice('$share/'.length)
    const slash = rest.indexOf('/')
    const group = slash === -1 ? rest : rest.slice(0, slash)
    body = slash === -1 ? '' : rest.slice(slash + 1)
    if (group === '' || body === '' || /[+#]/.test(group)) problems.add('invalid-shared-subscription')
    if (body === '') return problems
  }
  const levels = body.split('/')
  if (levels.length > (rules.maxLevels ?? 128)) problems.add('too-many-levels')
  if (!isFilter) {
    if (/[+#]/.test(body)) problems.add('wildcard-in-topic-name')
    return problems
  }
  levels.forEach((level, i) => {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      problems.add('invalid-multi-level-wildcard')
    if (level.includes('+') && level !== '+') problems.add('invalid-single-level-wildcard')
  })
  return problems
}

describe('validation properties', () => {
  const unit = fc.constantFrom(
    'a',
    'b',
    '/',
    '/',
    '+',
    '#',
    '$',
    '\u0000',
    'é',
    '€',
    '😀',
    '\ud800',
    '\udc00',
  )
  const text = fc.tuple(fc.constantFrom('', '$share/', '$share/g/', '$'), fc.string({ unit, maxLength: 12 }))
  const rules = fc.record(
    { maxLevels: fc.integer({ min: 1, max: 6 }), shared: fc.boolean() },
    { requiredKeys: [] },
  )

  it('validateTopicFilter reports a problem the string has, and none only when it has none', () => {
    fc.assert(
      fc.property(text, rules, ([prefix, rest], r) => {
        const filter = prefix + rest
        const expected = allProblems(filter, true, r)
        const got = validateTopicFilter(filter, r)
        if (expected.size === 0) expect(got).toBeUndefined()
        else expect(expected).toContain(got)
      }),
      { numRuns: 3000 },
    )
  })

  it('validateTopicName reports a problem the string has, and none only when it has none', () => {
    fc.assert(
      fc.property(text, rules, ([prefix, rest], r) => {
        const topic = prefix + rest
        const expected = allProblems(topic, false, r)
        const got = validateTopicName(topic, r)
        if (expected.size === 0) expect(got).toBeUndefined()
        else expect(expected).toContain(got)
      }),
      { numRuns: 3000 },
    )
  })

  it('[MQTT-4.7.3-3] counts UTF-8 bytes exactly near the 65535 limit', () => {
    // Blocks of 1-, 2-, 3- and 4-byte characters whose total is 65535 + delta bytes, in a random order.
    const blocks = fc
      .record({
        two: fc.integer({ min: 0, max: 8000 }),
        three: fc.integer({ min: 0, max: 8000 }),
        four: fc.integer({ min: 0, max: 4000 }),
        delta: fc.integer({ min: -2, max: 2 }),
        order: fc.shuffledSubarray([0, 1, 2, 3], { minLength: 4, maxLength: 4 }),
        shared: fc.boolean(),
      })
      .map(({ two, three, four, delta, order, shared }) => {
        const prefix = shared ? '$share/é/' : ''
        const one = 65535 + delta - 2 * two - 3 * three - 4 * four - Buffer.byteLength(prefix)
        const parts = ['a'.repeat(one), 'é'.repeat(two), '€'.repeat(three), '😀'.repeat(four)]
        return { text: prefix + order.map((i) => parts[i]).join(''), tooLong: delta > 0 }
      })
    fc.assert(
      fc.property(blocks, ({ text, tooLong }) => {
        expect(validateTopicName(text)).toBe(tooLong ? 'too-long' : undefined)
        expect(validateTopicFilter(text)).toBe(tooLong ? 'too-long' : undefined)
      }),
      { numRuns: 200 },
    )
  })

  it('parseSharedFilter round-trips every valid shared filter', () => {
    const level = fc.constantFrom('a', 'b', '', '+', '$x')
    const inner = fc
      .tuple(fc.array(level, { minLength: 0, maxLength: 3 }), fc.constantFrom('a', '', '+', '#'))
      .map(([init, last]) => [...init, last].join('/'))
      .filter((f) => f !== '')
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9-]{1,5}$/), inner, (group, filter) => {
        const shared = `$share/${group}/${filter}`
        expect(validateTopicFilter(shared)).toBeUndefined()
        expect(parseSharedFilter(shared)).toEqual({ group, filter })
      }),
    )
  })
})
