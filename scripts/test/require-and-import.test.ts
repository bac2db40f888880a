/**
 * Every published package loads by its name from a CommonJS file (`require()`, Node >= 20.19 loads ESM that
 * way through the `default` export condition) and from an ES module, as a consumer's project would.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { manifestOf, packagesDir, publicPackages } from './packages.js'

interface Entry {
  /** What a consumer writes: `@mqtt-stack/core`, `@mqtt-stack/core/testing`. */
  specifier: string
}

/** Each public package's entry points, from its `exports` (the package.json itself left out). */
function entries(): Entry[] {
  const found: Entry[] = []
  for (const dir of publicPackages()) {
    const manifest = manifestOf(dir)
    for (const subpath of Object.keys(manifest.exports ?? {})) {
      if (subpath.endsWith('package.json')) continue
      found.push({ specifier: `${manifest.name}${subpath.slice(1)}` })
    }
  }
  return found
}

/** A project outside the workspace whose node_modules links each package under its name. */
const project = mkdtempSync(join(tmpdir(), 'mqtt-stack-consumer-'))
mkdirSync(join(project, 'node_modules', '@mqtt-stack'), { recursive: true })
for (const name of readdirSync(packagesDir)) {
  symlinkSync(join(packagesDir, name), join(project, 'node_modules', '@mqtt-stack', name), 'dir')
}
afterAll(() => rmSync(project, { recursive: true, force: true }))

function run(file: string, code: string): { status: number | null; stdout: string; stderr: string } {
  writeFileSync(join(project, file), code)
  return spawnSync(process.execPath, [join(project, file)], { cwd: project, encoding: 'utf8' })
}

describe('the published packages load from CommonJS and from ESM', () => {
  const all = entries()

  it('finds the entry points of every package', () => {
    expect(all.map((entry) => entry.specifier)).toContain('@mqtt-stack/core')
    expect(all.length).toBeGreaterThanOrEqual(14)
  })

  it('require() from a .cjs file: each entry point loads with its named exports', () => {
    const code = all
      .map(
        ({ specifier }) =>
          `console.log(${JSON.stringify(specifier)}, Object.keys(require(${JSON.stringify(specifier)})).length)`,
      )
      .join('\n')
    const result = run('load.cjs', code)
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    const counts = result.stdout
      .trim()
      .split('\n')
      .map((line) => Number(line.split(' ')[1]))
    expect(counts).toHaveLength(all.length)
    expect(counts.every((count) => count > 0)).toBe(true)
  })

  it('import from a .mjs file: the same exports as require()', () => {
    const code = all
      .map(
        ({ specifier }) =>
          `{ const esm = await import(${JSON.stringify(specifier)}); const cjs = require(${JSON.stringify(specifier)}); if (esm.Stack !== cjs.Stack || Object.keys(esm).join() !== Object.keys(cjs).join()) throw new Error(${JSON.stringify(specifier)}) }`,
      )
      .join('\n')
    const result = run(
      'load.mjs',
      `import { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)\n${code}\nconsole.log('ok')`,
    )
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe('ok')
  })

  it('a broker from CommonJS: require() the packages, and the Stack accepts a connection', () => {
    const result = run(
      'broker.cjs',
      `const { createBroker } = require('@mqtt-stack/broker')
const { connect } = require('node:net')
const broker = createBroker({ listeners: [{ type: 'mqtt', host: '127.0.0.1', port: 0 }] })
broker.listen().then(([address]) => {
  const socket = connect(address.port, '127.0.0.1', () => socket.write(Buffer.from([0x10, 0x0d, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 1, 0x63])))
  socket.once('data', (bytes) => {
    console.log(bytes[0] === 0x20 ? 'connack' : 'other')
    socket.destroy()
    broker.close()
  })
})
`,
    )
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe('connack')
  })
})
