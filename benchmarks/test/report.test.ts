import { describe, expect, it } from 'vitest'
import type { Report, RunRecord } from '../src/report.js'
import { table } from '../src/report.js'
import type { Scenario, ScenarioResult } from '../src/scenarios/index.js'

const SCENARIO: Scenario = {
  name: 'grow',
  title: 'a scenario with one rate and one growth',
  relay: false,
  metrics: [
    { key: 'throughput', label: 'rate', unit: 'msg/s', better: 'higher' },
    { key: 'growth', label: 'RSS growth', unit: 'MiB', better: 'lower' },
  ],
  run: () => Promise.reject(new Error('not run')),
}

function run(broker: 'ours' | 'aedes', repeat: number, metrics: Record<string, number>): RunRecord {
  const result: ScenarioResult = {
    throughput: metrics.throughput!,
    sent: 1,
    received: 1,
    lost: 0,
    duplicates: 0,
    generatorCpu: 0.5,
    generatorBottleneck: false,
    metrics,
    notes: [],
  }
  return { broker, repeat, result }
}

function report(runs: RunRecord[]): Report {
  return {
    date: '2026-12-05T00:00:00Z',
    commit: 'abc',
    node: 'v20',
    cpu: 'cpu',
    cores: 2,
    quick: false,
    repeat: 1,
    brokers: ['ours', 'aedes'],
    skipped: [],
    scenarios: [{ name: 'grow', title: SCENARIO.title, runs }],
  }
}

/** The ours/aedes cell of the row whose metric label starts with `label`. */
function ratioCell(markdown: string, label: string): string {
  const row = markdown.split('\n').find((line) => line.includes(`| ${label} (`))!
  return row.split('|').map((cell) => cell.trim())[5]!
}

describe('report table', () => {
  it('gives the ratio of two amounts', () => {
    const text = table(
      report([
        run('ours', 1, { throughput: 300, growth: 2 }),
        run('aedes', 1, { throughput: 100, growth: 4 }),
      ]),
      [SCENARIO],
    )
    expect(ratioCell(text, 'rate')).toBe('3.00×')
    expect(ratioCell(text, 'RSS growth')).toBe('0.50×')
  })

  it('gives no ratio where a growth was a shrink (a negative figure says nothing as a multiple)', () => {
    const text = table(
      report([
        run('ours', 1, { throughput: 300, growth: -6.5 }),
        run('aedes', 1, { throughput: 100, growth: -0.4 }),
      ]),
      [SCENARIO],
    )
    expect(ratioCell(text, 'rate')).toBe('3.00×')
    expect(ratioCell(text, 'RSS growth')).toBe('—')
  })
})
