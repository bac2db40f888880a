/**
 * whenIdle, which the storm waits on between its waves: it resolves once the process stops using CPU, not
 * before, and not never.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { whenIdle } from '../src/load/stats.js'

/** A child that spins for `ms` (forever when negative), says so, then idles until killed. */
const spinner = (ms: number) => `
const until = ${ms} < 0 ? Infinity : Date.now() + ${ms}
const spin = () => {
  const slice = Date.now() + 20
  while (Date.now() < slice);
  if (Date.now() < until) setImmediate(spin)
  else process.send('stopped')
}
process.send('spinning')
spin()
setInterval(() => {}, 1000)
`

describe('whenIdle', () => {
  let child: ChildProcess | undefined

  afterEach(() => {
    child?.kill()
    child = undefined
  })

  const start = async (ms: number): Promise<ChildProcess> => {
    const started = spawn(process.execPath, ['-e', spinner(ms)], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    })
    await new Promise((resolve) => started.once('message', resolve))
    return started
  }

  it('waits while the process is busy and resolves once it is idle', async () => {
    child = await start(500)
    let stopped = false
    child.once('message', () => {
      stopped = true
    })
    await whenIdle(child.pid)
    expect(stopped).toBe(true)
  })

  it('gives up after its limit on a process that never idles', async () => {
    child = await start(-1)
    const began = performance.now()
    await whenIdle(child.pid, 100, 400)
    expect(performance.now() - began).toBeGreaterThanOrEqual(400)
  })

  it('resolves at once without a process to read', async () => {
    await whenIdle(undefined)
    await whenIdle(2 ** 22 + 1)
  })
})
