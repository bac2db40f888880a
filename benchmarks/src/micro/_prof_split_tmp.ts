import { SubscriptionTrie } from './_trie_split_tmp.js'

let seed = 0x2f6b_1d3a
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const device = () => `dev-${Math.floor(random() * 50000)}`
const pick = <V>(a: V[]) => a[Math.floor(random() * a.length)] as V
const trie = new SubscriptionTrie<{ qos: number }>()
let n = 0
const add = (f: string) => trie.add(f, `client-${n++}`, { qos: n % 2 })
for (let i = 0; i < 75000; i++) add(`devices/${device()}/${pick(['telemetry', 'status', 'config'])}`)
for (let i = 0; i < 20000; i++) add(`devices/${device()}/+`)
for (let i = 0; i < 4000; i++) add('devices/+/alarm')
for (let i = 0; i < 990; i++) add(`devices/${device()}/#`)
for (let i = 0; i < 10; i++) add('#')
const topics: string[] = []
for (let i = 0; i < 10000; i++) topics.push(`devices/${device()}/telemetry`)
let sink = 0
const visit = (v: { qos: number }) => {
  sink = (sink + v.qos + 1) | 0
}
const mode = process.argv[2] ?? 'each'
for (let r = 0; r < 5; r++) {
  const t0 = performance.now()
  for (let k = 0; k < 100; k++) for (const t of topics) trie.forEachMatch(t, visit)
  const dt = performance.now() - t0
  console.log(mode, ((100 * topics.length) / dt / 1000).toFixed(2), 'M ops/s')
}
