import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'

/**
 * The semi-space size the `mqtt-stack` command lets V8's young generation reach, in MiB (V8's own limit on
 * 64-bit machines is 16). The young generation is two semi-spaces, both resident once used.
 *
 * Why: V8 doubles the young generation each time as many bytes have survived it as it holds. A broker's
 * connections are long-lived, so a burst of a few thousand connects takes it to its maximum, 32 MiB resident
 * that no later work needs. Measured in `pnpm bench` on this repository's machines, semi-spaces of 4 MiB
 * keep the throughput of every scenario (1 MiB costs fan-out about a third) and take a 5,000-client storm
 * from about 9.5 to 6.5 KiB of RSS per connection, and the persistent scenario's queue from 22 to 10 MiB.
 */
export const SEMI_SPACE_MIB = 4

/** Node or V8 flags that choose the young generation's size: the user's choice wins over ours. */
const CHOSEN = /^--(?:max|min)[-_]semi[-_]space[-_]size|^--semi[-_]space[-_]growth[-_]factor/

export interface YoungGenerationOptions {
  /** Default {@link SEMI_SPACE_MIB}. */
  semiSpaceMiB?: number
  /** The flags Node was started with. Default: `process.execArgv` and `NODE_OPTIONS`. */
  nodeFlags?: readonly string[]
}

/**
 * Lets the young generation grow (V8 doubles it) until its semi-spaces reach `semiSpaceMiB`, then no more.
 * V8 reads its maximum only when the process starts (`node --max-semi-space-size`), which a command installed
 * by npm cannot pass portably (`env -S` in a shebang fails on BusyBox and Windows). What V8 does read at each
 * growth is its growth factor, so once the young generation has reached the size, the factor becomes 1.
 * Nothing is done when Node was given a flag of its own for this. Returns whether it took charge.
 */
export function limitYoungGeneration(options: YoungGenerationOptions = {}): boolean {
  const flags = options.nodeFlags ?? [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  if (flags.some((flag) => CHOSEN.test(flag))) return false
  // The new space is both semi-spaces.
  const limit = (options.semiSpaceMiB ?? SEMI_SPACE_MIB) * 2 * 2 ** 20
  const reached = (): boolean => {
    const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')
    if (newSpace === undefined || newSpace.space_size < limit) return false
    setFlagsFromString('--semi-space-growth-factor=1')
    return true
  }
  if (reached()) return true
  // V8 grows the young generation during a garbage collection; the entry of that collection arrives before
  // as many bytes again have survived, which the next growth would need.
  const observer = new PerformanceObserver(() => {
    if (reached()) observer.disconnect()
  })
  observer.observe({ entryTypes: ['gc'] })
  return true
}
