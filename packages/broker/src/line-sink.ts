import { createWriteStream } from 'node:fs'
import type { Writable } from 'node:stream'

/** Where log lines go without ever blocking the event loop. */
export interface LineSink {
  write(line: string): void
  /** Resolves once every line written so far has left (call it before `process.exit`). */
  flush(): Promise<void>
  /** Lines dropped because the reader was too slow, in all. */
  readonly dropped: number
}

/** 1 MiB of lines waiting: the reader has stalled, and a broker must not grow or wait because of it. */
const MAX_BUFFERED = 1024 * 1024
/**
 * Lines are written at most this often (and on `flush`): each write is a round trip through libuv's thread
 * pool, which a connection storm logging thousands of lines a second would otherwise pay per line or per turn.
 */
const WRITE_INTERVAL_MS = 50

/**
 * Lines to a stream that may be slow. Node writes to a pipe synchronously on Linux, so a stalled reader of
 * standard output (a busy parent process, a slow journald) would stall the broker with it; writing through
 * an fs stream instead keeps the event loop free, and past `maxBuffered` bytes waiting, lines are dropped
 * and counted (one line says how many, once the stream has room again). Lines go out together, at most
 * every 50 ms.
 */
export function createLineSink(stream: Writable = stdoutStream(), maxBuffered = MAX_BUFFERED): LineSink {
  let dropped = 0
  let unreported = 0
  /** Lines handed to the stream and not yet written; `flush` waits for none. */
  let pending = 0
  /** The lines since the last write: one write for all of them. */
  let batch = ''
  let scheduled = false
  const flushed: Array<() => void> = []
  const written = () => {
    if (--pending > 0) return
    for (const resolve of flushed.splice(0)) resolve()
  }
  const send = () => {
    scheduled = false
    if (batch === '' || stream.destroyed) return
    pending++
    stream.write(batch, written)
    batch = ''
  }
  const add = (text: string) => {
    batch += text
    if (scheduled) return
    scheduled = true
    setTimeout(send, WRITE_INTERVAL_MS).unref()
  }
  return {
    write(line) {
      if (stream.destroyed) return
      if (stream.writableLength + batch.length > maxBuffered) {
        dropped++
        unreported++
        return
      }
      if (unreported > 0) {
        add(`${unreported} log lines dropped: the output was too slow\n`)
        unreported = 0
      }
      add(`${line}\n`)
    },
    flush: () => {
      send()
      return new Promise((resolve) => {
        if (pending === 0 || stream.destroyed) return resolve()
        flushed.push(resolve)
        // A stream that fails or closes calls back no more writes.
        stream.once('close', resolve)
      })
    },
    get dropped() {
      return dropped
    },
  }
}

function stdoutStream(): Writable {
  const stream = createWriteStream('', { fd: 1, autoClose: false })
  // Standard output gone (the reader exited): nothing more to say, and no reason to crash.
  stream.on('error', () => stream.destroy())
  return stream
}
