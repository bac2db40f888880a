/**
 * A package README is read on the npm registry and in node_modules, from a tarball that holds nothing else of
 * the repository: it links only to absolute URLs (or to its own headings) and names no file outside its
 * package. What it would have sent the reader to, the order of use() of the built-ins, it carries itself:
 * every copy of that order, on any page, is held to the one in docs/architecture.md, so copies cannot drift.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { codeBlocks, markdownPages, packageReadmes, root } from './markdown-pages.js'

/** Link targets a tarball can follow: absolute https URLs, headings of the page itself, mail addresses. */
const REACHABLE = /^(https:\/\/|#|mailto:)/

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const topDirs = readdirSync(root, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== '.git')
  .map((entry) => escapeRegExp(entry.name))

/** Names of files that are not in the package's tarball, each with what to say about it. */
const OUTSIDE: Array<[RegExp, string]> = [
  [/(?<![\w@./-])\.{1,2}\//, 'a relative path'],
  [new RegExp(`(?<![\\w@./-])(${topDirs.join('|')})/`), 'a directory of the repository'],
  [/(?<![\w@./-])(src|test)\/[\w./-]*\.[cm]?[jt]s\b/, 'a source that is not published (files: dist)'],
  [/\b(?!README\.md\b)[\w.-]+\.md\b/, 'a markdown file outside the package'],
  [/\broot README\b/i, 'the root README'],
]

/** Every reference of a package README that its tarball cannot follow, as `page:line: what (text)`. */
function unreachable(page: string, text = readFileSync(join(root, page), 'utf8')): string[] {
  const found: string[] = []
  const lineOf = (index: number) => text.slice(0, index).split('\n').length
  const targets = [
    /\]\(\s*<?([^)\s>]*)/g, // [text](target), ![alt](target)
    /^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)/gm, // [label]: target
    /\b(?:href|src)\s*=\s*["']([^"']*)/g, // <a href>, <img src>
  ]
  for (const pattern of targets) {
    for (const match of text.matchAll(pattern)) {
      if (!REACHABLE.test(match[1]!))
        found.push(`${page}:${lineOf(match.index)}: a link the tarball cannot follow (${match[1]})`)
    }
  }
  // A link to an absolute URL may name its file in its text; what is left must name none.
  const rest = text
    .replace(/\[[^\]]*\]\(\s*<?https:\/\/[^)]*\)/g, (link) => link.replace(/[^\n]/g, ''))
    .replace(/https?:\/\/\S+/g, '')
  rest.split('\n').forEach((line, i) => {
    for (const [pattern, what] of OUTSIDE) {
      const match = pattern.exec(line)
      if (match === null) continue
      const word = /^[^\s`'")]+/.exec(line.slice(match.index))![0].replace(/[.,;:]+$/, '')
      found.push(`${page}:${i + 1}: ${what} (${match[0].includes(' ') ? match[0] : word})`)
    }
  })
  return found
}

interface OrderCopy {
  where: string
  names: string[]
}

/** The middleware classes in the order a block `use()`s them, by `new X(...)` or a variable holding one. */
function usedInBlock(code: string): string[] {
  const bindings = new Map<string, string>()
  for (const match of code.matchAll(/\b(?:const|let)\s+(\w+)\s*=\s*new\s+(\w+)\s*\(/g))
    bindings.set(match[1]!, match[2]!)
  return [...code.matchAll(/\.use\(\s*(?:new\s+(\w+)\s*\(|(\w+)\s*\))/g)].map(
    (match) => match[1] ?? bindings.get(match[2]!) ?? match[2]!,
  )
}

const architecture = 'docs/architecture.md'
const canonicalBlock = codeBlocks(architecture).find((block) => /\.use\(\s*new /.test(block.code))
/** The order of docs/architecture.md: every built-in, and which of them it marks `// optional`. */
const CANONICAL = usedInBlock(canonicalBlock?.code ?? '')
const OPTIONAL = new Set(
  [...(canonicalBlock?.code ?? '').matchAll(/\.use\(\s*new\s+(\w+)\b.*\/\/\s*optional/g)].map(
    (match) => match[1]!,
  ),
)
const REQUIRED = CANONICAL.filter((name) => !OPTIONAL.has(name))

/**
 * The copies of the order on a page: ts and js blocks that use() built-ins, tables with a `middleware`
 * column, and paragraphs that list them "in this order". Only the built-ins' names count (a plugin may
 * stand between them); a copy names at least two.
 */
function orderCopies(page: string): OrderCopy[] {
  // Another backend (RedisBackend, a DeferredBackend around one) stands where MemoryBackend stands.
  const builtin = (names: string[]) =>
    names
      .map((name) => (/^\w+Backend$/.test(name) ? 'MemoryBackend' : name))
      .filter((name) => CANONICAL.includes(name))
  const copies: OrderCopy[] = codeBlocks(page)
    .filter((block) => /^(ts|typescript|mts|js|javascript|mjs|cjs)$/.test(block.lang))
    .map((block) => ({
      where: `${page}:${block.line} (block ${block.index})`,
      names: builtin(usedInBlock(block.code)),
    }))
  const text = readFileSync(join(root, page), 'utf8')
  const lines = text.split('\n')
  lines.forEach((line, i) => {
    const header = line.split('|').map((cell) => cell.trim().toLowerCase())
    const column = header.indexOf('middleware')
    if (!line.startsWith('|') || column < 0) return
    const names: string[] = []
    for (let row = i + 2; lines[row]?.startsWith('|'); row++) {
      const cell = lines[row]!.split('|')[column] ?? ''
      names.push(...[...cell.matchAll(/`(\w+)`/g)].map((match) => match[1]!))
    }
    copies.push({ where: `${page}:${i + 1} (table)`, names: builtin(names) })
  })
  let offset = 0
  for (const paragraph of text.split(/\n\s*\n/)) {
    const at = text.indexOf(paragraph, offset)
    offset = at + paragraph.length
    if (!/in this order/i.test(paragraph)) continue
    const names = [...paragraph.matchAll(/`(\w+)`/g)].map((match) => match[1]!)
    copies.push({
      where: `${page}:${text.slice(0, at).split('\n').length} (paragraph)`,
      names: builtin(names),
    })
  }
  return copies.filter((copy) => copy.names.length >= 2)
}

/** Core is the contract: its README names no built-in, and links to the order instead. */
const WITHOUT_ORDER = new Set(['packages/core/README.md'])

describe('package READMEs refer to nothing outside their tarball', () => {
  const readmes = packageReadmes()

  it('finds every package README', () => {
    expect(readmes).toEqual(expect.arrayContaining(['packages/core/README.md', 'packages/broker/README.md']))
  })

  for (const page of readmes) {
    it(`${page}: absolute links only, and no path outside the package`, () => {
      expect(unreachable(page)).toEqual([])
    })
  }

  it('catches a relative link, a path into the repository and a source that is not published', () => {
    const sample = [
      'See [the guide](../../docs/guide.md).',
      'The order is in docs/architecture.md.',
      'Its state is declared in `src/state.ts`.',
      'As the root README says, and RESULTS.md.',
      '[the table](https://github.com/mqttjs/mqtt-stack/blob/main/docs/conformance.md), [above](#usage)',
      'Fine: `@mqtt-stack/core/testing`, the topic `devices/%c/#`, `ws://127.0.0.1:8080/mqtt`, this README.md.',
    ].join('\n')
    expect(unreachable('sample.md', sample)).toEqual([
      'sample.md:1: a link the tarball cannot follow (../../docs/guide.md)',
      'sample.md:1: a relative path (../../docs/guide.md)',
      'sample.md:1: a markdown file outside the package (guide.md)',
      'sample.md:2: a directory of the repository (docs/architecture.md)',
      'sample.md:2: a markdown file outside the package (architecture.md)',
      'sample.md:3: a source that is not published (files: dist) (src/state.ts)',
      'sample.md:4: a markdown file outside the package (RESULTS.md)',
      'sample.md:4: the root README (root README)',
    ])
  })
})

describe('every copy of the order of use() follows docs/architecture.md', () => {
  it(`${architecture} has the order: every built-in, the optional ones marked`, () => {
    expect(REQUIRED).toEqual(expect.arrayContaining(['MemoryBackend', 'Connection', 'SessionManager']))
    expect([...OPTIONAL].sort()).toEqual([
      'Limits',
      'Metrics',
      'PacketEmitter',
      'ScramSha256',
      'SysTopics',
      'TopicAcl',
    ])
  })

  const readmes = new Set(packageReadmes())
  const complete = new Set(['README.md', ...readmes])
  for (const page of markdownPages()) {
    if (page === architecture) continue
    const copies = orderCopies(page)
    const mustCarry = readmes.has(page) && !WITHOUT_ORDER.has(page)
    if (copies.length === 0 && !mustCarry) continue
    it(`${page}: each copy in the order of ${architecture}${complete.has(page) ? ', whole' : ''}`, () => {
      if (mustCarry) expect(copies, `${page} carries no copy of the order of use()`).not.toEqual([])
      for (const copy of copies) {
        const expected = CANONICAL.filter((name) => copy.names.includes(name))
        expect(copy.names, `${copy.where}: not in the order of ${architecture}`).toEqual(expected)
        if (complete.has(page))
          expect(
            REQUIRED.filter((name) => !copy.names.includes(name)),
            `${copy.where} leaves out`,
          ).toEqual([])
      }
    })
  }
})
