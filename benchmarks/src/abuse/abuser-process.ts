/**
 * One abuser in a process of its own (started by abuse/run.ts over IPC): `start` begins the abuse and is
 * answered `ready` once it is in place, `stop` ends it and is answered with its counters, then the process
 * exits.
 */
import { type Abuse, type AbuseKind, type AbuseTarget, startAbuse } from './abusers.js'

export type ToAbuser = { type: 'start'; kind: AbuseKind; target: AbuseTarget } | { type: 'stop' }
export type FromAbuser =
  | { type: 'ready' }
  | { type: 'stats'; stats: Record<string, number> }
  | { type: 'failed'; message: string }

let abuse: Abuse | undefined
const send = (message: FromAbuser, then?: () => void): void => {
  process.send?.(message, undefined, {}, () => then?.())
}

process.on('message', (message: ToAbuser) => {
  if (message.type === 'start') {
    abuse = startAbuse(message.kind, message.target)
    abuse.ready.then(
      () => send({ type: 'ready' }),
      (err: Error) => send({ type: 'failed', message: err.message }),
    )
  } else if (message.type === 'stop') {
    void (abuse?.stop() ?? Promise.resolve({})).then((stats) => {
      send({ type: 'stats', stats }, () => process.disconnect())
    })
  }
})
// The parent gone (killed, or its run failed): stop rather than linger.
process.on('disconnect', () => process.exit(0))
