/**
 * Quick mode of the broker benchmark against our broker (started from its sources, so no build is needed
 * and a stale dist cannot hide a regression): every scenario must deliver messages, lose none and
 * duplicate none. No timing is asserted: this keeps the benchmark from rotting, it does not measure.
 */
import mqtt from 'mqtt-packet'
import { beforeAll, describe, expect, it } from 'vitest'
import { publishFrame } from '../src/load/connection.js'
import type { RunRecord } from '../src/report.js'
import { runBenchmarks } from '../src/run.js'
import { idleCount, openFilesLimit } from '../src/scenarios/idle.js'
import { MEMORY_SCENARIOS } from '../src/scenarios/index.js'
import { expectDelivered } from './expect-delivered.js'

describe('broker benchmark, quick mode', () => {
  const runs = new Map<string, RunRecord>()

  beforeAll(async () => {
    const report = await runBenchmarks({ quick: true, brokers: ['ours'], fromSource: true, log: () => {} })
    for (const record of report.scenarios) runs.set(record.name, record.runs[0]!)
  }, 55_000)

  it('builds PUBLISH frames that mqtt-packet parses back', () => {
    const parser = mqtt.parser({ protocolVersion: 4 })
    const packets: mqtt.Packet[] = []
    parser.on('packet', (packet) => packets.push(packet))
    parser.parse(publishFrame(Buffer.from('a/b'), 1, 513, 200, 3, 7, true))
    const packet = packets[0] as mqtt.IPublishPacket
    expect(packet).toMatchObject({ cmd: 'publish', topic: 'a/b', qos: 1, retain: true, messageId: 513 })
    const payload = packet.payload as Buffer
    expect(payload.length).toBe(200)
    expect([payload.readUInt32LE(8), payload.readUInt32LE(12)]).toEqual([3, 7])
  })

  for (const scenario of MEMORY_SCENARIOS) {
    it(`${scenario.name}: messages arrive, none lost, none duplicated`, () => {
      expectDelivered(runs.get(scenario.name))
    })
  }

  it('storm: three waves of clients, each granted its subscription; the third one measured apart', () => {
    const result = runs.get('storm')!.result!
    expect(result.sent).toBe(3 * 300)
    expect(result.received).toBe(3 * 300)
    expect(result.metrics?.throughputWarm).toBeGreaterThan(0)
    expect(result.metrics?.cpuPerConnectionWarm).toBeGreaterThanOrEqual(0)
  })
})

describe('idle scenario: how many connections', () => {
  const limits = (soft: string) =>
    `Limit                     Soft Limit           Hard Limit           Units     \nMax open files            ${soft}                20000                files     \n`

  it('reads the soft open-files limit of /proc/self/limits', () => {
    expect(openFilesLimit(limits('20000'))).toBe(20000)
    expect(openFilesLimit(limits('unlimited'))).toBeUndefined()
    expect(openFilesLimit(undefined)).toBeUndefined()
  })

  it('opens 100,000 where the limit allows, else the limit less a margin for the broker', () => {
    expect(idleCount(false, 20000)).toBe(19000)
    expect(idleCount(false, 1_048_576)).toBe(100_000)
    expect(idleCount(false, undefined)).toBe(100_000)
    expect(idleCount(true, 20000)).toBe(500)
  })
})
