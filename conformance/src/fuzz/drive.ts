/**
 * Plays one connection's plan over TCP: writes without waiting for answers, respects back-pressure, stops
 * when the broker closes. A plan whose frames are intact then sends PINGREQ and waits for PINGRESP (or the
 * close), so the broker has processed every packet before the end; the end is FIN (waiting for the broker
 * to close) or a reset.
 */
import { connect } from 'node:net'
import type { ConnectionPlan } from './plan.js'

export interface ConnectionOutcome {
  /** Packets written before the connection closed. */
  written: number
  /** The broker closed the connection before the plan was played out. */
  closedByBroker: boolean
  /** The socket error seen, if any (ECONNRESET, EPIPE, ...). */
  socketError: string | undefined
  /** The broker neither answered the final PINGREQ nor closed, or did not close after FIN, within the timeout. */
  stuck: 'pingreq' | 'fin' | undefined
}

const PINGREQ = Buffer.from([0xc0, 0x00])
const PINGRESP_TYPE = 0xd0
const PINGRESP = Buffer.from([PINGRESP_TYPE, 0x00])

/** Resolves `true` when `promise` settles first, `false` after `ms`. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false)
  })
  try {
    return await Promise.race([promise.then(() => true as const), late])
  } finally {
    clearTimeout(timer)
  }
}

export async function drive(port: number, plan: ConnectionPlan, timeout: number): Promise<ConnectionOutcome> {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true })
  let closed = false
  let socketError: string | undefined
  const whenClosed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      closed = true
      resolve()
    })
  })
  socket.on('error', (err: NodeJS.ErrnoException) => {
    socketError ??= err.code ?? err.message
  })
  // What the broker answers is read, so that its writes never back up, and scanned for PINGRESP (d0 00) only:
  // the same two bytes inside a payload at worst end the wait early.
  let previous = -1
  let pingresps = 0
  let awaited = Number.POSITIVE_INFINITY
  let answered: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => {
    if (previous === PINGRESP_TYPE && chunk[0] === 0x00) pingresps++
    for (let at = chunk.indexOf(PINGRESP); at >= 0; at = chunk.indexOf(PINGRESP, at + 2)) pingresps++
    previous = chunk[chunk.length - 1] ?? -1
    if (pingresps >= awaited) answered?.()
  })
  await Promise.race([new Promise((resolve) => socket.once('connect', resolve)), whenClosed])

  /** Sends PINGREQ and waits for its PINGRESP or the close; false after the timeout. */
  let pings = 0
  const sync = async (): Promise<boolean> => {
    awaited = ++pings
    const last = new Promise<void>((resolve) => {
      answered = resolve
      if (pingresps >= awaited) resolve()
    })
    socket.write(PINGREQ)
    return within(Promise.race([last, whenClosed]), timeout)
  }

  let written = 0
  let stuck: ConnectionOutcome['stuck']
  for (let n = 0; n < plan.packets.length && !closed; n++) {
    const { kind, chunks } = plan.packets[n]!
    if (chunks.length === 1) {
      if (!socket.write(chunks[0]!)) {
        await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), whenClosed])
      }
    } else {
      // A frame split across writes: each part is handed to the kernel before the next is written.
      for (const chunk of chunks) {
        if (closed) break
        await Promise.race([new Promise((resolve) => socket.write(chunk, resolve)), whenClosed])
      }
    }
    written++
    // Each valid PINGREQ of the plan is answered too, before ours.
    if (kind === 'valid:pingreq') pings++
    if (plan.syncAfter.has(n) && !closed && !(await sync())) {
      stuck = 'pingreq'
      break
    }
  }

  // A plan whose frames are intact ends with PINGREQ: every packet has been processed once it is answered.
  if (!closed && plan.framed && stuck === undefined && !(await sync())) stuck = 'pingreq'
  const closedByBroker = closed
  if (!closed && plan.ending === 'end') {
    socket.end()
    if (!(await within(whenClosed, timeout))) stuck ??= 'fin'
  }
  socket.destroy()
  await whenClosed
  return { written, closedByBroker, socketError, stuck }
}
