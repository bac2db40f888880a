/**
 * The code blocks of every page a user reads are complete programs. Each ts and js block of a page is written
 * to a file of its own in a directory where every workspace package resolves by name, as installed (built:
 * its exports, its .d.ts), and the blocks of a page are typechecked together with the repository's strict
 * settings, js with checkJs. A block that drifts from the API, or leaves out an import, fails here with its
 * page and line. Every fence says its language, so a block that is not a program (a shell session, a tree,
 * output) is marked as such (```bash, ```text) where a reviewer sees it.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import ts from 'typescript'
import { afterAll, describe, expect, it } from 'vitest'
import { type CodeBlock, codeBlocks, markdownPages, root } from './markdown-pages.js'

/** The languages checked, and the extension a block of each is written with. */
const EXTENSIONS: Record<string, string> = {
  ts: '.ts',
  typescript: '.ts',
  mts: '.mts',
  js: '.mjs',
  javascript: '.mjs',
  mjs: '.mjs',
  cjs: '.cjs',
}

// Inside examples/basic, so that the third-party libraries its pages show (mqtt) resolve too.
const dir = mkdtempSync(join(root, 'examples/basic/.doc-examples-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
for (const parent of ['packages', 'examples']) {
  for (const name of readdirSync(join(root, parent))) {
    const pkg = join(root, parent, name)
    let manifest: { name?: string }
    try {
      manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'))
    } catch {
      continue
    }
    if (manifest.name === undefined) continue
    const link = join(dir, 'node_modules', manifest.name)
    mkdirSync(dirname(link), { recursive: true })
    symlinkSync(pkg, link, 'dir')
  }
}

const base = ts.readConfigFile(join(root, 'tsconfig.base.json'), ts.sys.readFile)
const options: ts.CompilerOptions = {
  ...ts.convertCompilerOptionsFromJson(base.config.compilerOptions, root).options,
  noEmit: true,
  declaration: false,
  sourceMap: false,
  allowJs: true,
  checkJs: true,
  // Each block is a module of its own, so that two blocks may declare the same names.
  moduleDetection: ts.ModuleDetectionKind.Force,
}

// One program per page (a page's blocks may augment core's interfaces, as a plugin does, and two pages may
// do so differently); the libraries' declaration files are parsed once for all of them.
const host = ts.createCompilerHost(options)
host.getCurrentDirectory = () => dir
const parsed = new Map<string, ts.SourceFile | undefined>()
const getSourceFile = host.getSourceFile.bind(host)
host.getSourceFile = (fileName, ...rest) => {
  if (fileName.startsWith(`${dir}/`) && !fileName.includes('/node_modules/'))
    return getSourceFile(fileName, ...rest)
  if (!parsed.has(fileName)) parsed.set(fileName, getSourceFile(fileName, ...rest))
  return parsed.get(fileName)
}

/** What is wrong with the blocks of a page, one line each, as `page:line (block n): ...`. */
function problems(page: string, blocks: CodeBlock[]): string[] {
  const found = blocks
    .filter((block) => block.lang === '')
    .map(
      (block) =>
        `${page}:${block.line - 1} (block ${block.index}): a fence without a language; a program is ts or js, ` +
        'anything else says what it is (bash, text, yaml, ...)',
    )
  const files = new Map<string, CodeBlock>()
  for (const block of blocks) {
    const extension = EXTENSIONS[block.lang]
    if (extension === undefined) continue
    const file = join(dir, `${page.replace(/\W+/g, '-')}-${block.index}${extension}`)
    writeFileSync(file, block.code)
    files.set(file, block)
  }
  if (files.size === 0) return found
  const program = ts.createProgram([...files.keys()], options, host)
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ')}`
    const block = diagnostic.file && files.get(diagnostic.file.fileName)
    if (diagnostic.file === undefined || block === undefined) {
      found.push(`${diagnostic.file?.fileName ?? page}: ${message}`)
      continue
    }
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0)
    found.push(`${page}:${block.line + line} (block ${block.index}, ${block.lang}): ${message}`)
  }
  return found
}

describe('the code blocks of every page typecheck against the built packages', () => {
  const pages = markdownPages()

  it('finds the pages by walking the repository', () => {
    expect(pages).toEqual(
      expect.arrayContaining([
        'README.md',
        'docs/architecture.md',
        'docs/writing-a-middleware.md',
        'examples/rate-limit/README.md',
        'packages/core/README.md',
      ]),
    )
    expect(pages.filter((page) => page.includes('CHANGELOG') || page.startsWith('.'))).toEqual([])
  })

  it('names the page, the block and the line of a missing import and of a fence without a language', () => {
    const sample: CodeBlock[] = [
      {
        index: 1,
        lang: 'ts',
        line: 10,
        code: "import { Stack } from '@mqtt-stack/core'\n\nnew Stack().use(new Backend())\n",
      },
      { index: 2, lang: '', line: 20, code: 'mqtt-stack --config broker.yaml\n' },
    ]
    expect(problems('sample.md', sample)).toEqual([
      expect.stringMatching(/^sample\.md:19 \(block 2\): a fence without a language/),
      "sample.md:12 (block 1, ts): TS2304: Cannot find name 'Backend'.",
    ])
  })

  for (const page of pages) {
    const blocks = codeBlocks(page)
    if (blocks.length === 0) continue
    it(`${page}: every fence names its language; every ts and js block is complete and typechecks`, () => {
      expect(problems(page, blocks)).toEqual([])
    }, 60_000)
  }
})
