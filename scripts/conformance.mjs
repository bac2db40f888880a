#!/usr/bin/env node
// Writes docs/conformance.md: every numbered statement of MQTT 3.1.1 and 5.0 (from
// conformance/statements/*.json) with its status, where "tested" comes from the names of the tests
// that cite it. The test names are read statically from every *.test.ts of the workspace.
//
//   node scripts/conformance.mjs            write docs/conformance.md (exit 1 if a statement list is
//                                           malformed or a citation unknown)
//   node scripts/conformance.mjs --check    exit 1 if docs/conformance.md is stale, a statement list is
//                                           malformed or a citation unknown; list the server statements
//                                           still "met, not tested"
//   node scripts/conformance.mjs --json     print the statements, the tests and the errors as JSON
//   --root <dir>                            work on another tree (the script's own tests use it)
//
// Plain Node, no dependencies: the test files are tokenised well enough to find describe/it/test calls,
// their titles and their nesting, not parsed as TypeScript.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export const VERSIONS = ['3.1.1', '5.0']
const SCAN_DIRS = ['packages', 'examples', 'conformance', 'benchmarks']
const SKIP_DIRS = new Set(['node_modules', 'dist', '.turbo', 'coverage'])
const DOC = join('docs', 'conformance.md')
const MAX_TESTS_IN_CELL = 3
const SERVER_BINDS = new Set(['server', 'both', 'sender', 'receiver'])
const STATUSES = new Set(['n/a', 'not met'])

// ---------------------------------------------------------------------------------------------------
// Reading test names

/** Every *.test.ts under the scanned directories, as paths relative to root with forward slashes. */
export function findTestFiles(root) {
  const found = []
  const walk = (dir) => {
    let entries
    try {
      entries = readdirSync(join(root, dir), { withFileTypes: true })
    } catch {
      return
    }
    for (const entry of entries) {
      const path = dir ? `${dir}/${entry.name}` : entry.name
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith('.')) walk(path)
      } else if (entry.isFile() && entry.name.endsWith('.test.ts')) {
        found.push(path)
      }
    }
  }
  for (const dir of SCAN_DIRS) walk(dir)
  return found.sort()
}

const KEYWORDS_BEFORE_EXPRESSION = new Set([
  'return',
  'typeof',
  'instanceof',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'case',
  'do',
  'else',
  'yield',
  'await',
])

/**
 * Splits TypeScript source into identifiers, strings, templates, regexes, numbers and punctuation,
 * skipping comments. Good enough to find calls and match parentheses; not a TypeScript parser.
 */
export function tokenize(src) {
  const tokens = []
  let i = 0
  const n = src.length
  const isIdStart = (c) => /[A-Za-z_$]/.test(c)
  const isId = (c) => /[A-Za-z0-9_$]/.test(c)
  const regexAllowed = () => {
    const prev = tokens[tokens.length - 1]
    if (!prev) return true
    if (prev.type === 'punct') return !(prev.value === ')' || prev.value === ']' || prev.value === '}')
    if (prev.type === 'id') return KEYWORDS_BEFORE_EXPRESSION.has(prev.value)
    return false
  }
  // Reads a template literal starting at the backquote at `start`; returns its end (after the closing
  // backquote) and whether it holds ${} substitutions.
  const readTemplate = (start) => {
    let j = start + 1
    let substitutions = false
    while (j < n) {
      const c = src[j]
      if (c === '\\') {
        j += 2
      } else if (c === '`') {
        return { end: j + 1, substitutions }
      } else if (c === '$' && src[j + 1] === '{') {
        substitutions = true
        j = skipExpression(j + 2)
      } else {
        j++
      }
    }
    return { end: n, substitutions }
  }
  // Skips a ${...} substitution body from `start`, returning the index after its closing brace.
  const skipExpression = (start) => {
    let depth = 1
    let j = start
    while (j < n && depth > 0) {
      const c = src[j]
      if (c === '{') depth++
      else if (c === '}') depth--
      else if (c === '"' || c === "'") j = readQuoted(j) - 1
      else if (c === '`') j = readTemplate(j).end - 1
      else if (c === '/' && src[j + 1] === '/') j = lineEnd(j) - 1
      else if (c === '/' && src[j + 1] === '*') j = blockEnd(j) - 1
      j++
    }
    return j
  }
  const readQuoted = (start) => {
    const quote = src[start]
    let j = start + 1
    while (j < n && src[j] !== quote && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1
    return Math.min(j + 1, n)
  }
  const lineEnd = (start) => {
    const j = src.indexOf('\n', start)
    return j === -1 ? n : j
  }
  const blockEnd = (start) => {
    const j = src.indexOf('*/', start + 2)
    return j === -1 ? n : j + 2
  }
  const readRegex = (start) => {
    let j = start + 1
    let inClass = false
    while (j < n && src[j] !== '\n') {
      const c = src[j]
      if (c === '\\') j++
      else if (c === '[') inClass = true
      else if (c === ']') inClass = false
      else if (c === '/' && !inClass) break
      j++
    }
    j++
    while (j < n && isId(src[j])) j++
    return j
  }

  while (i < n) {
    const c = src[i]
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++
    } else if (c === '/' && src[i + 1] === '/') {
      i = lineEnd(i)
    } else if (c === '/' && src[i + 1] === '*') {
      i = blockEnd(i)
    } else if (c === '"' || c === "'") {
      const end = readQuoted(i)
      tokens.push({ type: 'str', value: unescapeJs(src.slice(i + 1, end - 1)), start: i, end })
      i = end
    } else if (c === '`') {
      const { end, substitutions } = readTemplate(i)
      const body = src.slice(i + 1, end - 1)
      tokens.push({ type: 'tpl', value: substitutions ? body : unescapeJs(body), start: i, end })
      i = end
    } else if (isIdStart(c)) {
      let j = i + 1
      while (j < n && isId(src[j])) j++
      tokens.push({ type: 'id', value: src.slice(i, j), start: i, end: j })
      i = j
    } else if (/[0-9]/.test(c)) {
      let j = i + 1
      while (j < n && /[0-9A-Za-z_.]/.test(src[j])) j++
      tokens.push({ type: 'num', value: src.slice(i, j), start: i, end: j })
      i = j
    } else if (c === '/' && regexAllowed()) {
      const end = readRegex(i)
      tokens.push({ type: 'regex', value: src.slice(i, end), start: i, end })
      i = end
    } else {
      tokens.push({ type: 'punct', value: c, start: i, end: i + 1 })
      i++
    }
  }
  return tokens
}

function unescapeJs(body) {
  return body.replace(/\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[\s\S])/g, (_, e) => {
    if (e[0] === 'u' && e[1] === '{') return String.fromCodePoint(Number.parseInt(e.slice(2, -1), 16))
    if (e[0] === 'u' && e.length === 5) return String.fromCharCode(Number.parseInt(e.slice(1), 16))
    if (e[0] === 'x' && e.length === 3) return String.fromCharCode(Number.parseInt(e.slice(1), 16))
    return { n: '\n', t: '\t', r: '\r', 0: '\0', '\n': '' }[e] ?? e
  })
}

const SUITE_NAMES = new Set(['describe', 'xdescribe', 'suite'])
const TEST_NAMES = new Set(['it', 'test', 'xit', 'xtest'])
// A test with one of these modifiers does not run unconditionally, so it does not count as a test.
const NOT_RUN = new Set(['skip', 'todo', 'skipIf', 'runIf', 'fails'])
/** Modifiers called before the test itself: it.each(table)(title, fn), it.skipIf(condition)(title, fn). */
const WITH_ARGUMENTS = new Set(['each', 'for', 'skipIf', 'runIf'])

/**
 * The describe/it/test calls of one file: for each test, its titles from the outermost describe down,
 * and whether it runs unconditionally. Skipped, todo, conditional (skipIf/runIf) and expected-to-fail
 * tests, and every test of a skipped describe, are marked `skipped`.
 */
export function parseTests(src) {
  const tokens = tokenize(src)
  const match = new Map()
  const open = []
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]
    if (t.type !== 'punct') continue
    if (t.value === '(' || t.value === '[' || t.value === '{') open.push(k)
    else if (t.value === ')' || t.value === ']' || t.value === '}') {
      const from = open.pop()
      if (from !== undefined) match.set(from, k)
    }
  }
  const newlines = []
  for (let i = src.indexOf('\n'); i !== -1; i = src.indexOf('\n', i + 1)) newlines.push(i)
  /** The 1-based line of an offset: one more than the newlines before it. */
  const lineOf = (offset) => {
    let lo = 0
    let hi = newlines.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (newlines[mid] < offset) lo = mid + 1
      else hi = mid
    }
    return lo + 1
  }
  const calls = []
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]
    if (t.type !== 'id' || !(SUITE_NAMES.has(t.value) || TEST_NAMES.has(t.value))) continue
    const before = tokens[k - 1]
    // x.test(...) is a method, function test() a declaration: neither is a vitest call.
    if (before?.value === '.' || before?.value === 'function') continue
    const modifiers = t.value.startsWith('x') ? ['skip'] : []
    let j = k + 1
    let table
    while (tokens[j]?.value === '.' && tokens[j + 1]?.type === 'id') {
      const modifier = tokens[j + 1].value
      modifiers.push(modifier)
      j += 2
      if (tokens[j]?.value === '<') j = skipTypeArguments(tokens, j) // it.each<[string, Packet]>(table)
      if (WITH_ARGUMENTS.has(modifier) && tokens[j]?.value === '(') {
        const close = match.get(j)
        if (close === undefined) break
        if (modifier === 'each' || modifier === 'for') table = { from: j + 1, to: close }
        j = close + 1
      } else if (tokens[j]?.type === 'tpl') {
        j++ // it.each`table`
      }
    }
    if (tokens[j]?.value !== '(') continue
    const close = match.get(j)
    if (close === undefined) continue
    const first = tokens[j + 1]
    const title = first && (first.type === 'str' || first.type === 'tpl') ? first.value : null
    const kind = SUITE_NAMES.has(t.value) ? 'describe' : 'test'
    // A test of a table whose rows add citations to its title is one test per row; otherwise one test.
    const rows = kind === 'test' && title !== null && table ? tableRows(tokens, match, table) : undefined
    const titles = title === null ? ['(title not a literal)'] : expandTitle(title, rows)
    for (const each of titles) {
      calls.push({
        kind,
        title: each,
        skipped: modifiers.some((m) => NOT_RUN.has(m)),
        start: tokens[j].start,
        end: tokens[close].end,
        line: lineOf(t.start),
      })
    }
  }
  const suites = calls.filter((c) => c.kind === 'describe')
  const tests = []
  for (const call of calls) {
    if (call.kind !== 'test') continue
    const parents = suites.filter((s) => s.start < call.start && call.end <= s.end)
    tests.push({
      line: call.line,
      titles: [...parents.map((s) => s.title), call.title],
      skipped: call.skipped || parents.some((s) => s.skipped),
    })
  }
  return tests
}

/** The index after the type argument list `<...>` that starts at tokens[at] (an arrow `=>` inside is no `>`). */
function skipTypeArguments(tokens, at) {
  let depth = 0
  for (let k = at; k < tokens.length; k++) {
    const t = tokens[k]
    if (t.type !== 'punct') continue
    if (t.value === '<') depth++
    else if (t.value === '>' && !(tokens[k - 1]?.value === '=' && tokens[k - 1].end === t.start)) {
      if (--depth === 0) return k + 1
    }
  }
  return tokens.length
}

/** A value written as a literal: a quoted string, a template without substitutions, an integer. */
function literalOf(token) {
  if (token?.type === 'str') return token.value
  if (token?.type === 'tpl' && !/\$\{/.test(token.value)) return token.value
  if (token?.type === 'num') return token.value
  return undefined
}

/**
 * The rows of the table of `it.each(table)`, read from an array literal (inline, or the one a `const` of the
 * file is set to): for an object row its properties with literal values, for an array row its elements
 * (undefined where not a literal). Undefined when the table is not such a literal, or holds a spread.
 */
function tableRows(tokens, match, { from, to }) {
  let open = from
  if (to - from === 1 && tokens[from].type === 'id') {
    const name = tokens[from].value
    open = -1
    for (let k = 0; k + 2 < tokens.length; k++) {
      if (tokens[k].value !== 'const' || tokens[k + 1].value !== name) continue
      let m = k + 2
      while (m < tokens.length && tokens[m].value !== '=' && tokens[m].value !== ';') m++
      if (tokens[m]?.value === '=' && tokens[m + 1]?.value === '[') open = m + 1
      break
    }
    if (open === -1) return undefined
  } else if (tokens[from].value !== '[' || match.get(from) !== to - 1) {
    return undefined
  }
  const close = match.get(open)
  if (close === undefined) return undefined
  /** The elements between tokens[a] and tokens[b] (both excluded), split at top-level commas. */
  const elements = (a, b) => {
    const list = []
    let start = a + 1
    for (let k = a + 1; k <= b; k++) {
      const value = tokens[k].value
      if (k < b && (value === '(' || value === '[' || value === '{')) {
        k = match.get(k) ?? b
        continue
      }
      if (k === b || value === ',') {
        if (k > start) list.push([start, k])
        start = k + 1
      }
    }
    return list
  }
  const rows = []
  for (const [a, b] of elements(open, close)) {
    const head = tokens[a]
    if (head.value === '.') return undefined // ...spread: the rows are not known
    if (head.value === '{' && match.get(a) === b - 1) {
      const row = {}
      for (const [p, q] of elements(a, b - 1)) {
        const key = tokens[p]
        if ((key.type === 'id' || key.type === 'str') && tokens[p + 1]?.value === ':' && q === p + 3) {
          const value = literalOf(tokens[p + 2])
          if (value !== undefined) row[key.value] = value
        }
      }
      rows.push(row)
    } else if (head.value === '[' && match.get(a) === b - 1) {
      rows.push(elements(a, b - 1).map(([p, q]) => (q === p + 1 ? literalOf(tokens[p]) : undefined)))
    } else {
      rows.push([b === a + 1 ? literalOf(head) : undefined])
    }
  }
  return rows
}

/**
 * The titles of a table test: `$name` takes the property of an object row, `%s`, `%i`, `%d`... the next
 * element of an array row (a row of one value is that value), as vitest formats them. Only when some row
 * adds a citation to the title is there one title per row; otherwise there is the title as written.
 */
function expandTitle(title, rows) {
  if (rows === undefined || rows.length === 0) return [title]
  const expanded = rows.map((row) => {
    if (!Array.isArray(row)) return title.replace(/\$([A-Za-z_]\w*)/g, (all, key) => row[key] ?? all)
    let next = 0
    return title.replace(/%[sdifjoO%]/g, (all) => (all === '%%' ? all : (row[next++] ?? all)))
  })
  const cited = new Set(citationsOf(title))
  const adds = expanded.some((each) => citationsOf(each).some((id) => !cited.has(id)))
  return adds ? expanded : [title]
}

const CITATION = /\[(MQTT-[0-9][0-9.-]*[0-9])\]/g

/** The `[MQTT-x.y.z-n]` ids cited in a name, in order, without repeats. */
export function citationsOf(name) {
  return [...new Set([...name.matchAll(CITATION)].map((m) => m[1]))]
}

/**
 * Which protocol versions a test's full name speaks of. Citations are removed first, so the "5.0" in
 * [MQTT-4.5.0-1] is no version. A name with "5.0" or "MQTT 5" and no "3.1.1" is about 5.0, a name with
 * both is about both, and any other name is about 3.1.1.
 */
export function versionsOf(name) {
  const text = name.replace(/\[MQTT-[^\]]*\]/g, ' ').replace(/MQTT-[0-9][0-9.-]*[0-9]/g, ' ')
  const five = /(?<![\d.])5\.0(?![\d])/.test(text) || /\bMQTT ?5(?![\d.]*\d)/i.test(text)
  const three = /(?<![\d.])3\.1\.1(?![\d])/.test(text)
  if (five && three) return ['3.1.1', '5.0']
  if (five) return ['5.0']
  return ['3.1.1']
}

/** Every test of the tree with its full name, the versions it speaks of and the ids it cites. */
export function scanTests(root) {
  const tests = []
  for (const file of findTestFiles(root)) {
    let src
    try {
      src = readFileSync(join(root, file), 'utf8')
    } catch {
      continue // removed since it was listed
    }
    for (const test of parseTests(src)) {
      const name = test.titles.join(' > ')
      tests.push({
        file,
        line: test.line,
        title: test.titles[test.titles.length - 1],
        name,
        skipped: test.skipped,
        versions: versionsOf(name),
        citations: citationsOf(name),
      })
    }
  }
  return tests
}

// ---------------------------------------------------------------------------------------------------
// Statements and their status

export function loadStatements(root) {
  const lists = {}
  for (const version of VERSIONS) {
    const path = join(root, 'conformance', 'statements', `mqtt-${version}.json`)
    lists[version] = JSON.parse(readFileSync(path, 'utf8'))
  }
  return lists
}

/**
 * Problems with the statement lists themselves: a duplicate id, a blank field, an unknown `binds` or
 * status, a status without a reason, or a rule for clients only that is not marked "n/a".
 */
export function listProblems(lists) {
  const problems = []
  for (const version of VERSIONS) {
    const seen = new Set()
    for (const s of lists[version].statements) {
      const where = `MQTT ${version} ${s.id ?? '(no id)'}`
      for (const id of [s.id, ...(s.aliases ?? [])]) {
        if (seen.has(id)) problems.push(`${where}: id ${id} appears twice`)
        seen.add(id)
      }
      if (!/^MQTT-\d+(\.\d+){1,2}-\d+$/.test(s.id ?? '')) problems.push(`${where}: malformed id`)
      if (!s.section?.trim()) problems.push(`${where}: no section`)
      if (!s.summary?.trim()) problems.push(`${where}: blank summary`)
      if (!['server', 'client', 'both', 'sender', 'receiver'].includes(s.binds)) {
        problems.push(`${where}: binds must be server, client, both, sender or receiver`)
      }
      if (s.status !== undefined && !STATUSES.has(s.status)) {
        problems.push(`${where}: status must be "n/a" or "not met"`)
      }
      if (s.status !== undefined && !s.reason?.trim()) problems.push(`${where}: a status needs a reason`)
      if (s.status === undefined && s.reason !== undefined)
        problems.push(`${where}: a reason without a status`)
      if (!SERVER_BINDS.has(s.binds) && s.status !== 'n/a') {
        problems.push(`${where}: binds only the client, so its status must be "n/a"`)
      }
    }
  }
  return problems
}

/** The statements that bind the server and have neither a status nor a test: "met, not tested". */
export function gapsOf(rows) {
  const gaps = {}
  for (const version of VERSIONS) {
    gaps[version] = rows[version]
      .filter((r) => SERVER_BINDS.has(r.binds) && r.status === undefined && r.tests.length === 0)
      .map((r) => ({ id: r.id, summary: r.summary }))
  }
  return gaps
}

/**
 * Joins statements and tests. Returns, per version, one row per statement with its tests and the status
 * shown in the doc, plus the citations that name no statement of their version.
 */
export function computeRows(lists, tests) {
  const rows = {}
  const byId = {}
  for (const version of VERSIONS) {
    rows[version] = lists[version].statements.map((s) => ({ ...s, tests: [] }))
    byId[version] = new Map()
    for (const row of rows[version]) {
      byId[version].set(row.id, row)
      for (const alias of row.aliases ?? []) byId[version].set(alias, row)
    }
  }
  const errors = []
  for (const test of tests) {
    if (test.skipped) continue
    for (const id of test.citations) {
      // A name about both versions cites each id in the versions that have it.
      const found = test.versions.map((v) => byId[v].get(id)).filter((row) => row !== undefined)
      for (const row of found) if (!row.tests.includes(test)) row.tests.push(test)
      if (found.length === 0) {
        const versions = test.versions.map((v) => `MQTT ${v}`).join(' nor ')
        errors.push({
          file: test.file,
          line: test.line,
          name: test.name,
          id,
          versions: test.versions,
          message: `${test.file}:${test.line}: [${id}] is not a statement of ${versions} ("${test.name}")`,
        })
      }
    }
  }
  for (const version of VERSIONS) {
    for (const row of rows[version]) {
      row.tests.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1))
      row.shown = statusOf(row)
    }
  }
  return { rows, errors }
}

function statusOf(row) {
  if (row.status === 'n/a') return `n/a: ${row.reason}`
  if (row.status === 'not met') return `not met: ${row.reason}`
  return row.tests.length > 0 ? 'met, tested' : 'met, not tested'
}

export function kindOf(shown) {
  if (shown.startsWith('n/a')) return 'n/a'
  if (shown.startsWith('not met')) return 'not met'
  return shown
}

// ---------------------------------------------------------------------------------------------------
// The document

/** Escapes text for a Markdown table cell. */
export function cell(text) {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/\n/g, ' ')
}

function testsCell(tests) {
  const shown = tests.slice(0, MAX_TESTS_IN_CELL).map((t) => `\`${t.file}\` › ${cell(t.title)}`)
  if (tests.length > MAX_TESTS_IN_CELL) shown.push(`+${tests.length - MAX_TESTS_IN_CELL} more`)
  return shown.join('<br>')
}

export function renderDoc(rows) {
  const out = []
  out.push('# MQTT conformance')
  out.push('')
  out.push(
    '<!-- Generated by scripts/conformance.mjs from conformance/statements/*.json and the test names. Do not edit: run `pnpm conformance`. -->',
  )
  out.push('')
  out.push(
    'Every numbered statement (`[MQTT-x.y.z-n]`) of the MQTT 3.1.1 and MQTT 5.0 specifications, as their',
    'Appendix B lists them, with what the default example broker (`examples/basic`, every built-in) does about it:',
    '',
    '- **met, tested**: the broker meets it and the tests named in the last column check it;',
    '- **met, not tested**: a rule for the server that no test cites yet: a gap to close with a test;',
    '- **n/a**: the rule does not bind a server (a rule for clients, or for something the broker never does);',
    '- **not met**: a rule for the server that the built-ins do not meet, with the reason.',
    '',
    "The summaries are ours, not the specification's words: read the statement in the specification",
    '([3.1.1](https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/mqtt-v3.1.1.html),',
    '[5.0](https://docs.oasis-open.org/mqtt/mqtt/v5.0/mqtt-v5.0.html)) before relying on one.',
    '',
    '## How a test counts',
    '',
    'A test cites a statement with the tag `[MQTT-x.y.z-n]` in its title or in the title of a `describe` around',
    'it. The two versions reuse numbers for different statements, so the full name of the test (the describe',
    'titles and the test title) says which version it cites: a name that contains "5.0" or "MQTT 5" cites 5.0',
    'statements, a name that names neither cites 3.1.1 statements, and a name that contains "3.1.1" as well as',
    '"5.0" cites each tag in the versions that have that statement. Version numbers inside the tags themselves',
    'do not count. Skipped, todo, conditional (`skipIf`/`runIf`) and expected-to-fail (`fails`) tests do not',
    'count. A table test (`it.each`) whose rows, written as literals, put tags into its title (`$name`, `%s`)',
    'counts once per row, with the tags of that row.',
    '',
    'The statements, their summaries and the "n/a" and "not met" statuses live in',
    '`conformance/statements/mqtt-3.1.1.json` and `conformance/statements/mqtt-5.0.json`; the "tested"',
    'columns come from the test names. `pnpm conformance` rewrites this file;',
    '`node scripts/conformance.mjs --check` fails when it is stale, when a statement list is malformed, or when a',
    'test cites an id that is not a statement of its version; it lists the server statements still "met, not',
    'tested".',
    "Test titles in the last column are shortened to the test's own title; at most",
    `${MAX_TESTS_IN_CELL} tests are listed per statement.`,
  )
  out.push('')
  out.push('## Summary')
  out.push('')
  out.push('| version | statements | met, tested | met, not tested | n/a | not met |')
  out.push('| --- | --- | --- | --- | --- | --- |')
  for (const version of VERSIONS) {
    const count = (kind) => rows[version].filter((r) => kindOf(r.shown) === kind).length
    out.push(
      `| MQTT ${version} | ${rows[version].length} | ${count('met, tested')} | ${count('met, not tested')} | ${count('n/a')} | ${count('not met')} |`,
    )
  }
  for (const version of VERSIONS) {
    out.push('')
    out.push(`## MQTT ${version}`)
    out.push('')
    out.push('| statement | summary | status | tests |')
    out.push('| --- | --- | --- | --- |')
    for (const row of rows[version]) {
      out.push(`| ${row.id} | ${cell(row.summary)} | ${cell(row.shown)} | ${testsCell(row.tests)} |`)
    }
  }
  out.push('')
  return out.join('\n')
}

// ---------------------------------------------------------------------------------------------------
// Command line

export function build(root) {
  const lists = loadStatements(root)
  const tests = scanTests(root)
  const { rows, errors } = computeRows(lists, tests)
  return { tests, rows, errors, problems: listProblems(lists), gaps: gapsOf(rows), doc: renderDoc(rows) }
}

function notTested(gaps) {
  const lines = []
  for (const version of VERSIONS) {
    if (gaps[version].length === 0) continue
    lines.push(`MQTT ${version}: ${gaps[version].length} server statements met, not tested:`)
    for (const gap of gaps[version]) lines.push(`  ${gap.id}  ${gap.summary}`)
  }
  return lines
}

function main(argv) {
  const args = argv.slice(2)
  const rootAt = args.indexOf('--root')
  const root = rootAt === -1 ? fileURLToPath(new URL('..', import.meta.url)) : resolve(args[rootAt + 1])
  const { tests, rows, errors, problems, gaps, doc } = build(root)
  if (args.includes('--json')) {
    const slim = (t) => ({ file: t.file, line: t.line, title: t.title, name: t.name })
    const json = {
      versions: Object.fromEntries(
        VERSIONS.map((v) => [v, rows[v].map((r) => ({ ...r, tests: r.tests.map(slim) }))]),
      ),
      tests,
      errors,
      problems,
      gaps,
    }
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    return 0
  }
  for (const e of errors) console.error(`unknown citation: ${e.message}`)
  for (const p of problems) console.error(`statement list: ${p}`)
  const path = join(root, DOC)
  if (args.includes('--check')) {
    let current = null
    try {
      current = readFileSync(path, 'utf8')
    } catch {}
    const stale = current !== doc
    if (stale) console.error(`${DOC} is stale: run \`pnpm conformance\` and commit the result`)
    for (const line of notTested(gaps)) console.log(line)
    return stale || errors.length > 0 || problems.length > 0 ? 1 : 0
  }
  writeFileSync(path, doc)
  console.log(`wrote ${relative(process.cwd(), path).split(sep).join('/') || DOC}`)
  for (const line of notTested(gaps)) console.log(line)
  return errors.length > 0 || problems.length > 0 ? 1 : 0
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv)
}
