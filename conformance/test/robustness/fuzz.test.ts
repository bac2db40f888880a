import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { runFuzz, summary } from '../../src/fuzz/runner.js'
import { startBroker } from '../support/broker.js'

/** Set FUZZ_SEED to repeat a run; the seed of a failed run is in its failure message. */
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED) >>> 0

describe('MQTT 3.1, 3.1.1 and 5.0 robustness: mutated and random packets over many connections', () => {
  it('after each batch of 50 connections the broker serves a healthy client, holds nothing for them and its heap is back (30,000 packets)', async () => {
    const emitter = new EventEmitter()
    // The run counts the errors itself (through the stack's error event): the harness need not keep them.
    const { broker, port } = await startBroker({ emitter, stack: { strict: true, onError: () => {} } })
    const report = await runFuzz({
      packets: 30_000,
      concurrency: 50,
      ...(seed === undefined ? {} : { seed }),
      target: { port, stack: broker.stack, emitter },
    })
    const details = summary(report)
    expect(report.failures, details).toEqual([])
    expect(report.packetsWritten, details).toBeGreaterThanOrEqual(30_000)
    // The run reached the broker: bad input was reported, and valid packets after CONNECT were processed.
    expect(report.brokerErrors.MQS_ERR_MALFORMED_PACKET ?? 0, details).toBeGreaterThan(0)
    expect(report.brokerErrors.MQS_ERR_PROTOCOL_ERROR ?? 0, details).toBeGreaterThan(0)
    for (const cmd of [
      'publish',
      'subscribe',
      'unsubscribe',
      'puback',
      'pubrec',
      'pubrel',
      'pubcomp',
      'auth',
    ]) {
      expect(report.processed[cmd] ?? 0, `${cmd} processed\n${details}`).toBeGreaterThan(0)
    }
  }, 60_000)
})
