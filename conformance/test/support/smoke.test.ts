import { describe, expect, it } from 'vitest'
import { startBroker } from './broker.js'

describe('conformance support', () => {
  it('starts the default example broker and answers a raw CONNECT', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    const connack = await peer.connect({ clientId: 'smoke' })
    expect(connack.returnCode).toBe(0)
  })
})
