import type { InflightPacket, IPublishPacket } from '@mqtt-stack/core'
import { describe, expect, it } from 'vitest'
import { decode, encode, ORIGIN, type OriginPacket, originNeedle } from '../src/codec.js'

function publish(extra: Partial<IPublishPacket> = {}): IPublishPacket {
  return {
    cmd: 'publish',
    topic: 'a/b',
    payload: Buffer.from([0, 1, 2, 0xff]),
    qos: 1,
    retain: false,
    dup: false,
    ...extra,
  }
}

describe('the stored text of a message', () => {
  it('is JSON whose fields decode back to the packet: topic, payload bytes, QoS, RETAIN, DUP, packet id, when stored', () => {
    const packet = publish({ retain: true, dup: true, messageId: 7, qos: 2 })
    const text = encode(packet, 1_733_000_000_123)
    expect(JSON.parse(text)).toEqual({
      t: 'a/b',
      p: 'AAEC/w==',
      q: 2,
      r: 1,
      d: 1,
      m: 7,
      at: 1_733_000_000_123,
    })
    expect(decode(text)).toEqual({ packet, storedAt: 1_733_000_000_123, shared: undefined })
  })

  it('leaves out what is absent: RETAIN 0, DUP 0, no packet id, QoS 0', () => {
    const packet = publish({ qos: 0 })
    expect(JSON.parse(encode(packet, 5))).toEqual({ t: 'a/b', p: 'AAEC/w==', q: 0, at: 5 })
    expect(decode(encode(packet, 5)).packet).toEqual(packet)
  })

  it('keeps a topic that needs escaping, a string payload (as its UTF-8 bytes), the shared group and the origin', () => {
    const packet: OriginPacket = publish({ topic: 'q"\\/é\u0001/😀', payload: 'hé' as unknown as Buffer })
    packet[ORIGIN] = 'pub"1\u00002'
    const text = encode(packet, 9, '$share/g"/a/#')
    const { packet: back, shared } = decode(text)
    expect(back.cmd === 'publish' && back.topic).toBe('q"\\/é\u0001/😀')
    expect(back.cmd === 'publish' && back.payload).toEqual(Buffer.from('hé'))
    expect((back as OriginPacket)[ORIGIN]).toBe('pub"1\u00002')
    expect(shared).toBe('$share/g"/a/#')
    // The scripts find a QoS 2 message's origin in the text.
    expect(text).toContain(originNeedle('pub"1\u00002'))
  })

  it('MQTT 5.0: keeps the properties, correlation data as bytes, user properties in order', () => {
    const properties = {
      messageExpiryInterval: 60,
      contentType: 'text/plain',
      responseTopic: 'r/1',
      correlationData: Buffer.from([9, 0, 255]),
      userProperties: { b: 'x', a: ['1', '2'] },
      payloadFormatIndicator: true,
    }
    const packet = publish({ properties })
    const back = decode(encode(packet, 1)).packet
    expect(back).toEqual(packet)
    expect(back.cmd === 'publish' && Object.keys(back.properties!.userProperties!)).toEqual(['b', 'a'])
  })

  it('a PUBREL that replaced its PUBLISH', () => {
    const pubrel: InflightPacket = { cmd: 'pubrel', messageId: 12 }
    expect(JSON.parse(encode(pubrel, 3))).toEqual({ c: 'pubrel', m: 12, at: 3 })
    expect(decode(encode(pubrel, 3))).toEqual({ packet: pubrel, storedAt: 3, shared: undefined })
  })
})
