import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { limitYoungGeneration } from '../src/cli/young-generation.js'
import { tempDir } from './cli-support.js'

const PACKAGE = fileURLToPath(new URL('..', import.meta.url))
const TSX = pathToFileURL(join(PACKAGE, 'node_modules/tsx/dist/loader.mjs')).href
const SOURCE = pathToFileURL(join(PACKAGE, 'src/cli/young-generation.ts')).href
const MiB = 2 ** 20

/**
 * A process that keeps 40 MB of small objects, made between turns of the event loop as a broker's connections
 * are, and prints the size of its new space (both semi-spaces) and what `limitYoungGeneration` answered.
 */
const PROGRAM = `
import { getHeapSpaceStatistics } from 'node:v8'
import { limitYoungGeneration } from ${JSON.stringify(SOURCE)}
const took = process.argv[2] === 'limit' ? limitYoungGeneration() : undefined
const kept = []
for (let batch = 0; batch < 40; batch++) {
  for (let i = 0; i < 10000; i++) kept.push({ id: batch * 10000 + i, pair: [i, i + 1], name: 'client-' + i })
  await new Promise((resolve) => setImmediate(resolve))
}
const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')
console.log(JSON.stringify({ took, kept: kept.length, newSpace: newSpace.space_size }))
`

async function run(
  nodeFlags: string[],
  mode: 'limit' | 'none',
): Promise<{ took?: boolean; newSpace: number }> {
  const file = join(tempDir({ 'program.mjs': PROGRAM }), 'program.mjs')
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...nodeFlags, '--import', TSX, file, mode],
    {
      env,
    },
  )
  return JSON.parse(stdout)
}

describe('limitYoungGeneration', () => {
  it('without it, the same work takes the young generation past 8 MiB (what the limit is measured against)', async () => {
    const { newSpace } = await run([], 'none')
    expect(newSpace).toBeGreaterThan(8 * MiB)
  })

  it('holds the young generation at two semi-spaces of 4 MiB', async () => {
    const { took, newSpace } = await run([], 'limit')
    expect(took).toBe(true)
    expect(newSpace).toBe(8 * MiB)
  })

  it('leaves the size to Node when it was started with a flag for it', async () => {
    const { took, newSpace } = await run(['--max-semi-space-size=2'], 'limit')
    expect(took).toBe(false)
    expect(newSpace).toBe(4 * MiB)
  })

  it('reads the flags of NODE_OPTIONS and the command line, in either spelling', () => {
    for (const flag of ['--max-semi-space-size=8', '--max_semi_space_size=8', '--semi-space-growth-factor=4'])
      expect(limitYoungGeneration({ nodeFlags: ['--enable-source-maps', flag] })).toBe(false)
  })
})
