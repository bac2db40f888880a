import { Duplex } from 'node:stream'
import { describe, expect, it } from 'vitest'
import {
  type CallbackContext,
  type Client,
  type DropReason,
  type IPublishPacket,
  type MiddlewareLike,
  Stack,
} from '../src/index.js'
import { acceptConnections, connectTestClient } from '../src/testing/index.js'
import { collectErrors } from './helpers.js'

/** A stream that takes writes and never finishes one: what is written stays buffered. */
class StalledStream extends Duplex {
  override _read() {}
  override _write(_chunk: Buffer, _encoding: string, _callback: () => void) {}
}

function publish(qos: 0 | 1, size: number, messageId?: number): IPublishPacket {
  return {
    cmd: 'publish',
    topic: 't',
    payload: Buffer.alloc(size),
    qos,
    retain: false,
    dup: false,
    ...(messageId ? { messageId } : {}),
  }
}

/** Answers `messageDropped` by keeping each notification. */
function dropRecorder(): MiddlewareLike & { drops: Array<CallbackContext<'messageDropped'>> } {
  const drops: Array<CallbackContext<'messageDropped'>> = []
  return {
    drops,
    messageDropped(ctx, _store, next) {
      drops.push(ctx)
      next()
    },
  }
}

describe('Stack: handler({ listener })', () => {
  it('names the listener of each client before any install runs', async () => {
    const seen: Array<string | undefined> = []
    const stack = new Stack().use({ install: (client: Client) => seen.push(client.listener) })
    const named = stack.handler({ listener: 'mqtts' })(new StalledStream())
    const unnamed = stack.handler()(new StalledStream())
    expect(seen).toEqual(['mqtts', undefined])
    expect(named.listener).toBe('mqtts')
    named.destroy()
    unnamed.destroy()
    await stack.close()
  })
})

describe('Client: closeReasonCode', () => {
  it('keeps the reason code of the first close()', async () => {
    const stack = new Stack()
    const client = stack.handler()(new StalledStream())
    expect(client.closeReasonCode).toBeUndefined()
    client.close(0x8e)
    client.close(0x97)
    expect(client.closeReasonCode).toBe(0x8e)
    client.destroy()
    await stack.close()
  })
})

describe('Stack: observeWrites', () => {
  it('sees the bytes of every packet written, until it is stopped', async () => {
    const stack = new Stack().use(acceptConnections())
    const written: Array<[Client, number, number]> = []
    const stop = stack.observeWrites((client, bytes) => written.push([client, bytes[0]! >> 4, bytes.length]))
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(written).toEqual([
      [t.client, 2, 4],
      [t.client, 13, 2],
    ])
    stop()
    expect(stack.writeObservers).toBeNull()
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(written).toHaveLength(2)
    await stack.close()
  })
})

describe('Stack: notifyDropped and messageDropped', () => {
  it('executes messageDropped only when some middleware answers it', async () => {
    const bare = new Stack()
    // Nothing answers: nothing runs, nothing is reported.
    const { errors } = collectErrors(bare)
    bare.notifyDropped('not-authorized', undefined, publish(0, 1), 'x')
    expect(errors).toEqual([])
    const recorder = dropRecorder()
    const stack = new Stack().use(recorder)
    const packet = publish(1, 1, 5)
    stack.notifyDropped('offline-queue-full', undefined, packet, 'offline-client')
    expect(recorder.drops).toEqual([
      { client: undefined, clientId: 'offline-client', packet, reason: 'offline-queue-full' },
    ])
    await bare.close()
    await stack.close()
  })

  it('reports a failing messageDropped handler, and nothing else fails', async () => {
    const { stack, errors } = collectErrors(
      new Stack().use({ messageDropped: (_ctx, _store, next) => next(new Error('counter broken')) }),
    )
    stack.notifyDropped('too-large', undefined, undefined, 'c')
    expect(errors.map((err) => err.message)).toEqual(['counter broken'])
    await stack.close()
  })

  it('is notified by core of QoS 0 over the buffer and of the message lost to a slow-consumer disconnect', async () => {
    const recorder = dropRecorder()
    const { stack } = collectErrors(
      new Stack({ client: { dropQoS0Above: 1000, disconnectAbove: 5000, closeTimeout: 10 } }).use(recorder),
    )
    const client = stack.handler()(new StalledStream())
    const reasons = (): DropReason[] => recorder.drops.map((drop) => drop.reason)
    for (let i = 0; i < 20; i++) client.write(publish(0, 100))
    expect(reasons().length).toBe(client.droppedMessages)
    expect(new Set(reasons())).toEqual(new Set(['qos0-buffer-full']))
    for (let i = 1; i <= 100 && !client.closed; i++) client.write(publish(1, 100, i))
    expect(client.closed).toBe(true)
    expect(reasons().at(-1)).toBe('slow-consumer')
    expect(recorder.drops.every((drop) => drop.client === client)).toBe(true)
    await stack.close()
  })

  it("[MQTT-3.1.2-25] MQTT 5.0: is notified of a PUBLISH over the client's Maximum Packet Size", async () => {
    const recorder = dropRecorder()
    const stack = new Stack().use(recorder).use(acceptConnections())
    const t = connectTestClient(stack, { protocolVersion: 5 })
    await t.connect({ protocolVersion: 5, properties: { maximumPacketSize: 50 } })
    t.client.write(publish(0, 100))
    expect(recorder.drops.map((drop) => drop.reason)).toEqual(['too-large'])
    await stack.close()
  })
})
