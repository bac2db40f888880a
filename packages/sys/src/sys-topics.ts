import { memoryUsage } from 'node:process'
import {
  type CallbackStore,
  type Client,
  type Done,
  ErrorCode,
  type IConnectPacket,
  type IPublishPacket,
  Middleware,
  MqttStackError,
  type Next,
  type Packet,
  ReasonCode,
  refuseConnect,
  refusePublish,
  type Stack,
} from '@mqtt-stack/core'
import { SysErrorCode } from './errors.js'
import { LOAD_WINDOWS, LoadAverage } from './load.js'
import { checkSysOptions, SYS_DEFAULTS, type SysTopicsOptions } from './options.js'

const DOLLAR = 0x24 // '$'
const SLASH = 0x2f // '/'

/** `$SYS` itself or a topic under it: what clients may not publish to. */
export function isSysTopic(topic: string): boolean {
  return (
    topic.charCodeAt(0) === DOLLAR &&
    topic.startsWith('$SYS') &&
    (topic.length === 4 || topic.charCodeAt(4) === SLASH)
  )
}

/** The counters with a load average, by the name of their topics under `$SYS/broker/load/`. */
const LOADS = [
  'messages/received',
  'messages/sent',
  'publish/received',
  'publish/sent',
  'bytes/received',
  'bytes/sent',
  'connections',
  'sockets',
] as const
type LoadName = (typeof LOADS)[number]

/**
 * Publishes mosquitto's `$SYS/broker/...` topics, retained, every `interval` seconds (and once at start),
 * each only when its value has changed, as mosquitto does; `$SYS/broker/uptime` changes every time. The
 * messages go through `relayMessage` like any other server message, so the retained store keeps them and
 * the ACL decides who may read them (`authorizeSubscribe`, `authorizeForward`). No client publishes to
 * `$SYS` or a topic under it, whatever the ACL says: such a PUBLISH is refused (MQTT 5.0: PUBACK or PUBREC
 * 0x87), and so is a CONNECT whose will would go there (CONNACK 0x87, 3.1.1: 5), as mosquitto refuses a will
 * its ACL forbids.
 *
 * Counting costs nothing per message here: core counts bytes and packets (`stack.traffic`), the backend
 * answers `collectStats`, and this middleware only follows connections (`connack` and `close`). The refusal
 * is a step of the PUBLISH chain that compares a character, not an `authorizePublish` answer, which would
 * make Authorize run a callback chain for every PUBLISH.
 */
export class SysTopics extends Middleware<SysTopicsOptions> {
  override readonly name = 'sys'
  override readonly requires = ['relayMessage'] as const
  override readonly providerHints = { relayMessage: 'MemoryBackend from @mqtt-stack/memory-backend' }
  override readonly packetTypes = ['connect', 'publish'] as const
  /** A refused CONNECT is told so after its credentials are checked, before its will is kept. */
  override readonly after = ['authentication']
  override readonly before = ['will', 'session-manager', 'inbound-manager']

  #stack: Stack | undefined = undefined
  /** Epoch milliseconds of `setup`, and of the last update. */
  #startedAt = 0
  #updatedAt = 0
  #timer: NodeJS.Timeout | undefined = undefined
  #first: NodeJS.Immediate | undefined = undefined
  /** The update in progress: a timer tick or `publishNow()` during it joins it. */
  #updating: Promise<void> | undefined = undefined
  #closed = false

  /** Clients with an accepted CONNACK whose connection is open, and the most at once. */
  #connected = 0
  #maximum = 0
  /** Accepted connections (CONNACK) and streams handed to the stack, since start. */
  #connections = 0
  #sockets = 0
  #heapMaximum = 0
  readonly #loads = new Map<LoadName, LoadAverage>(LOADS.map((name) => [name, new LoadAverage()]))
  /** The value last published on each topic. */
  readonly #published = new Map<string, string>()

  constructor(options: Partial<SysTopicsOptions> = {}) {
    super(options, SYS_DEFAULTS)
    checkSysOptions(this.config)
  }

  /** The value last published on each `$SYS` topic, by topic. */
  get topics(): ReadonlyMap<string, string> {
    return this.#published
  }

  override setup(stack: Stack): void {
    if (this.#stack !== undefined && this.#stack !== stack)
      throw new MqttStackError(
        ErrorCode.INVALID_MIDDLEWARE,
        'sys: this SysTopics is already used in another stack',
      )
    this.#stack = stack
    this.#startedAt = Date.now()
    this.#updatedAt = this.#startedAt
    const { interval } = this.config
    if (interval === 0) return
    // The first update once every middleware of the stack has been used (they are, in the same tick).
    this.#first = setImmediate(this.#tick)
    this.#first.unref()
    this.#timer = setInterval(this.#tick, interval * 1000)
    this.#timer.unref()
  }

  override install(client: Client): void {
    this.#sockets++
    // Emitted once per connection: `on` with a listener made once allocates no closure per connection.
    client.on('connack', this.#onConnack)
  }

  override uninstall(client: Client): void {
    if (client.connackSent) this.#connected--
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    if (packet.cmd === 'publish') {
      if (!isSysTopic(packet.topic)) return next()
      // The broker owns $SYS: no client publishes there, whatever the ACL says (as in mosquitto).
      refusePublish(client, packet, ReasonCode.NOT_AUTHORIZED)
      return done()
    }
    if (packet.cmd === 'connect' && packet.will && isSysTopic(packet.will.topic))
      return this.#refuseWill(client, packet, done)
    next()
  }

  override close(): void {
    this.#closed = true
    clearInterval(this.#timer)
    clearImmediate(this.#first)
  }

  /**
   * Updates the `$SYS` topics now, as the timer does; resolves once every changed topic has been relayed.
   * An update already in progress is joined rather than repeated.
   */
  publishNow(): Promise<void> {
    this.#updating ??= this.#update().finally(() => {
      this.#updating = undefined
    })
    return this.#updating
  }

  readonly #tick = (): void => {
    void this.publishNow()
  }

  readonly #onConnack = (): void => {
    this.#connections++
    if (++this.#connected > this.#maximum) this.#maximum = this.#connected
  }

  /** CONNACK 0x87 (3.1.1: 5), then the connection closes. */
  #refuseWill(client: Client, packet: IConnectPacket, done: Done): void {
    const err = new MqttStackError(
      SysErrorCode.WILL_REFUSED,
      `CONNECT of client "${packet.clientId}" refused: its will topic "${packet.will!.topic}" is under $SYS`,
      { reasonCode: ReasonCode.NOT_AUTHORIZED },
    )
    refuseConnect(client, packet, ReasonCode.NOT_AUTHORIZED, err)
    done()
  }

  async #update(): Promise<void> {
    const stack = this.#stack
    if (stack === undefined || this.#closed) return
    let stats: CallbackStore<'collectStats'> = {}
    if (stack.provides('collectStats')) {
      try {
        stats = await stack.run('collectStats', {}, {})
      } catch (err) {
        stack.reportError(err as MqttStackError, undefined, undefined)
      }
    }
    if (this.#closed) return
    const changed = this.#changes(stack, stats)
    await Promise.all(changed.map((packet) => relay(stack, packet)))
  }

  /** The topics whose value has changed since they were last published, as retained PUBLISH packets. */
  #changes(stack: Stack, stats: CallbackStore<'collectStats'>): IPublishPacket[] {
    const now = Date.now()
    const elapsed = (now - this.#updatedAt) / 1000
    this.#updatedAt = now
    const traffic = stack.traffic
    const counts: Record<LoadName, number> = {
      'messages/received': traffic.packetsReceived,
      'messages/sent': traffic.packetsSent,
      'publish/received': traffic.publishReceived,
      'publish/sent': traffic.publishSent,
      'bytes/received': traffic.bytesReceived,
      'bytes/sent': traffic.bytesSent,
      connections: this.#connections,
      sockets: this.#sockets,
    }
    const heap = memoryUsage().heapUsed
    if (heap > this.#heapMaximum) this.#heapMaximum = heap
    const values: Array<[string, string | number]> = [
      ['version', this.config.version],
      ['uptime', `${Math.floor((now - this.#startedAt) / 1000)} seconds`],
      ['clients/connected', this.#connected],
      ['clients/maximum', this.#maximum],
      ['messages/received', traffic.packetsReceived],
      ['messages/sent', traffic.packetsSent],
      ['publish/messages/received', traffic.publishReceived],
      ['publish/messages/sent', traffic.publishSent],
      ['bytes/received', traffic.bytesReceived],
      ['bytes/sent', traffic.bytesSent],
      ['heap/current', heap],
      ['heap/maximum', this.#heapMaximum],
    ]
    const { disconnectedSessions, subscriptions, retainedMessages } = stats
    if (disconnectedSessions !== undefined) {
      values.push(['clients/disconnected', disconnectedSessions])
      values.push(['clients/total', this.#connected + disconnectedSessions])
    }
    if (subscriptions !== undefined) values.push(['subscriptions/count', subscriptions])
    if (retainedMessages !== undefined) values.push(['retained messages/count', retainedMessages])
    for (const [name, load] of this.#loads) {
      load.update(counts[name], elapsed)
      for (let i = 0; i < LOAD_WINDOWS.length; i++)
        values.push([`load/${name}/${LOAD_WINDOWS[i]![1]}`, load.values[i]!.toFixed(2)])
    }
    const packets: IPublishPacket[] = []
    for (const [name, value] of values) {
      const topic = `$SYS/broker/${name}`
      const payload = String(value)
      if (this.#published.get(topic) === payload) continue
      this.#published.set(topic, payload)
      packets.push({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false })
    }
    return packets
  }
}

/** A server message through the normal relay: routed to subscribers the ACL allows, kept as retained. */
function relay(stack: Stack, packet: IPublishPacket): Promise<void> {
  return new Promise((resolve) => {
    stack.execute(
      'relayMessage',
      { client: undefined, packet, topic: packet.topic, payload: packet.payload },
      {},
      (err) => {
        if (err) stack.reportError(err, undefined, packet)
        resolve()
      },
    )
  })
}
