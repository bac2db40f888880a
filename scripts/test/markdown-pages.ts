/**
 * The markdown pages of the repository and their fenced code blocks, for the tests that hold the pages to
 * what they show (doc-examples.test.ts, package-readmes.test.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('../../', import.meta.url))

/** Build output, and the plugin template, whose blocks are full of placeholders until new-plugin fills them. */
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'coverage', 'templates'])

/**
 * Every markdown page of the repository, relative to its root: found by walking the tree, so that a new
 * README is checked without a change here. Hidden directories (.changeset), build output and CHANGELOGs
 * are left out.
 */
export function markdownPages(dir = root): string[] {
  const pages: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SKIPPED_DIRS.has(entry.name)) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) pages.push(...markdownPages(path))
    else if (entry.name.endsWith('.md') && entry.name !== 'CHANGELOG.md') pages.push(relative(root, path))
  }
  return pages.sort()
}

/** The README of each package under packages/: what goes into the npm tarballs. */
export function packageReadmes(): string[] {
  return readdirSync(join(root, 'packages'))
    .map((name) => join('packages', name, 'README.md'))
    .filter((page) => existsSync(join(root, page)))
    .sort()
}

export interface CodeBlock {
  /** 1-based, among every fenced block of the page. */
  index: number
  /** The first word of the info string, in lower case; '' when the fence has none. */
  lang: string
  /** The line of the page (1-based) where the code starts, after the opening fence. */
  line: number
  code: string
}

/** The fenced code blocks of a page (``` or ~~~, at any indentation), in order. */
export function codeBlocks(page: string): CodeBlock[] {
  const lines = readFileSync(join(root, page), 'utf8').split('\n')
  const found: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!)
    if (open === null) continue
    const indent = open[1]!
    const fence = open[2]!
    const close = new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`)
    let end = i + 1
    while (end < lines.length && !close.test(lines[end]!)) end++
    const code = lines
      .slice(i + 1, end)
      .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line.trimStart()))
      .join('\n')
    found.push({ index: found.length + 1, lang: open[3]!.toLowerCase(), line: i + 2, code: `${code}\n` })
    i = end
  }
  return found
}
