import type { IPublishPacket } from '@mqtt-stack/core'
import { acceptConnections, connectTestClient, recordPackets, testStack } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { __CLASS__ } from '../src/index.js'

const publish = (topic: string): IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: 'x',
  qos: 0,
  dup: false,
  retain: false,
})

/** A real Stack: a fake CONNACK, the middleware under test, and a recorder that ends the PUBLISH chain. */
function broker(middleware: __CLASS__) {
  const { stack, errors } = testStack()
  const delivered = recordPackets(['publish'])
  const counted: number[] = []
  stack.use(acceptConnections({ answerPings: true }))
  stack.use(middleware)
  stack.use(delivered)
  // A plain object answering the callback by name: it counts because the middleware declares the name.
  stack.use({
    __PREFIX__Counted(ctx, _store, next) {
      counted.push(ctx.count)
      next()
    },
  })
  return { stack, errors, delivered, counted }
}

describe('__CLASS__', () => {
  it('executes __PREFIX__Counted on every n-th PUBLISH and passes every PUBLISH on', async () => {
    const { stack, errors, delivered, counted } = broker(new __CLASS__({ every: 2 }))
    const t = connectTestClient(stack)
    await t.connect()
    for (const topic of ['a', 'b', 'c', 'd', 'e']) t.send(publish(topic))
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp') // the broker handled everything sent before the PINGREQ
    expect(delivered.packets.map((packet) => (packet as IPublishPacket).topic)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
    ])
    expect(counted).toEqual([2, 4])
    expect(errors).toEqual([])
    await stack.close()
  })

  it('refuses an option that cannot work', () => {
    expect(() => new __CLASS__({ every: 0 })).toThrow(
      expect.objectContaining({ code: '__ERROR_CODE_PREFIX__INVALID_OPTION' }),
    )
  })
})
