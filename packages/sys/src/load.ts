/** The windows of the load averages, in seconds, and the topic suffix of each. */
export const LOAD_WINDOWS = [
  [60, '1min'],
  [300, '5min'],
  [900, '15min'],
] as const

/**
 * A load average as mosquitto computes it: at each update, the rate per minute since the last one,
 * `rate = delta * 60 / elapsed`, moved into an exponentially weighted average per window W (60, 300 and 900
 * seconds): `load = rate + exp(-elapsed / W) * (load - rate)`. Starts at 0.
 */
export class LoadAverage {
  /** The counter's value at the last update. */
  #last = 0
  readonly values = [0, 0, 0]

  /** Takes the counter's value now, `elapsed` seconds after the last update. */
  update(count: number, elapsed: number): void {
    const delta = count - this.#last
    this.#last = count
    if (!(elapsed > 0)) return
    const rate = (delta * 60) / elapsed
    for (let i = 0; i < LOAD_WINDOWS.length; i++) {
      const exponent = Math.exp(-elapsed / LOAD_WINDOWS[i]![0])
      this.values[i] = rate + exponent * (this.values[i]! - rate)
    }
  }
}
