import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLineSink } from '../src/index.js'

/** A stream that completes no write until `release()`, like a pipe nobody reads; then every write at once. */
function stalled() {
  const written: string[] = []
  let blocked: (() => void) | undefined
  let released = false
  const stream = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk.toString())
      if (released) callback()
      else blocked = callback
    },
  })
  const release = () => {
    released = true
    blocked?.()
  }
  return { stream, written, release }
}

describe('createLineSink', () => {
  it('drops and counts lines while more than maxBuffered bytes wait, then says how many it dropped', async () => {
    const { stream, written, release } = stalled()
    const sink = createLineSink(stream, 30)
    for (let i = 0; i < 10; i++) sink.write(`line ${i}`)
    expect(sink.dropped).toBe(5)
    release()
    await sink.flush()
    sink.write('after')
    await sink.flush()
    expect(written.join('')).toBe(
      'line 0\nline 1\nline 2\nline 3\nline 4\n5 log lines dropped: the output was too slow\nafter\n',
    )
  })

  it('flush resolves once the lines have left', async () => {
    const { stream, written, release } = stalled()
    const sink = createLineSink(stream)
    sink.write('one')
    let flushed = false
    const done = sink.flush().then(() => (flushed = true))
    await new Promise((resolve) => setImmediate(resolve))
    expect(flushed).toBe(false)
    release()
    await done
    expect(written).toEqual(['one\n'])
  })

  it('writes the lines written together in one write', async () => {
    const { stream, written, release } = stalled()
    release()
    const sink = createLineSink(stream)
    for (let i = 0; i < 3; i++) sink.write(`connect ${i}`)
    await sink.flush()
    sink.write('later')
    await sink.flush()
    expect(written).toEqual(['connect 0\nconnect 1\nconnect 2\n', 'later\n'])
  })
})
