import { EventEmitter } from 'node:events'
import type { Client, Packet } from '@mqtt-stack/core'
import { describe, expectTypeOf, it } from 'vitest'
import { PacketEmitter, type PacketEmitterEvents } from '../src/index.js'

describe('PacketEmitter types', () => {
  it('accepts a plain EventEmitter and a typed one', () => {
    new PacketEmitter({ emitter: new EventEmitter() })
    new PacketEmitter().setClientHandler(new EventEmitter<PacketEmitterEvents>())
  })

  it('types the listeners of a typed EventEmitter', () => {
    const events = new EventEmitter<PacketEmitterEvents>()
    events.on('packet', (packet, client) => {
      expectTypeOf(packet).toEqualTypeOf<Packet>()
      expectTypeOf(client).toEqualTypeOf<Client>()
    })
    events.on('close', (client, error) => {
      expectTypeOf(client).toEqualTypeOf<Client>()
      expectTypeOf(error).toEqualTypeOf<Error | undefined>()
    })
    // @ts-expect-error: not an event of a PacketEmitter
    events.on('publish', () => {})
  })

  it('refuses an emitter without emit', () => {
    // @ts-expect-error: no emit
    new PacketEmitter({ emitter: {} })
  })
})
