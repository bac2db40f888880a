/**
 * The Eclipse Paho Python client (Debian's python3-paho-mqtt), driven through paho/client.py: one process per
 * client, one JSON command in, one JSON line per event out.
 */
import { fileURLToPath } from 'node:url'
import { type ClientProcess, startProcess } from './processes.js'
import type { Version } from './spec.js'
import { PYTHON } from './tools.js'

const SCRIPT = fileURLToPath(new URL('../paho/client.py', import.meta.url))

export interface PahoMessage {
  topic: string
  payload: string
  qos: number
  retain: boolean
}

export interface PahoCommand {
  port: number
  version: Version
  clientId: string
  clean?: boolean
  sessionExpiry?: number
  will?: PahoMessage
  subscribe?: { topic: string; qos: number }[]
  publish?: PahoMessage[]
  messages?: number
  stay?: boolean
  timeout?: number
}

/** A command without the broker's address and the protocol version, which a test gives once for all. */
export type PahoOptions = Omit<PahoCommand, 'port' | 'version'>

export type PahoEvent =
  | { event: 'connected'; reasonCode: number; sessionPresent: boolean }
  | { event: 'subscribed'; granted: number[] }
  | { event: 'published'; mid: number }
  | ({ event: 'message' } & PahoMessage)
  | { event: 'done' }
  | { event: 'lost'; reasonCode: number }
  | { event: 'timeout' }

type EventOf<E extends PahoEvent['event']> = Extract<PahoEvent, { event: E }>

export class PahoClient {
  readonly process: ClientProcess

  constructor(command: PahoCommand) {
    this.process = startProcess(`paho ${command.clientId}`, PYTHON, [SCRIPT, JSON.stringify(command)])
  }

  /** The first event named `name`, printed or to come. */
  async event<E extends PahoEvent['event']>(name: E): Promise<EventOf<E>> {
    const line = await this.process.line((text) => parse(text)?.event === name, `paho "${name}" event`)
    return parse(line) as EventOf<E>
  }

  /** Every event named `name` printed so far. */
  events<E extends PahoEvent['event']>(name: E): EventOf<E>[] {
    return this.process.lines.items.map(parse).filter((event): event is EventOf<E> => event?.event === name)
  }

  /** The messages received so far, without the event name. */
  messages(): PahoMessage[] {
    return this.events('message').map(({ event: _event, ...message }) => message)
  }

  /** Resolves when the script has exited 0 (it did everything its command asked and left cleanly). */
  succeeded(): Promise<void> {
    return this.process.succeeded()
  }
}

export function startPaho(command: PahoCommand): PahoClient {
  return new PahoClient(command)
}

function parse(line: string): PahoEvent | undefined {
  if (!line.startsWith('{')) return undefined
  return JSON.parse(line) as PahoEvent
}
