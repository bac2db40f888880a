/** How often the event loop is sampled. */
const SAMPLE_MS = 100

/**
 * How late the event loop runs: one unref'd timer, whose delay past its due time is the lag of the last
 * sample. Started by the first connection and stopped by `stop()`; it costs one timer for the whole broker.
 */
export class LagMonitor {
  /** Milliseconds the last sample ran late. */
  lag = 0
  #timer: NodeJS.Timeout | undefined = undefined
  #due = 0

  start(): void {
    if (this.#timer !== undefined) return
    this.#due = performance.now() + SAMPLE_MS
    this.#timer = setInterval(this.#sample, SAMPLE_MS)
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    this.lag = 0
  }

  readonly #sample = (): void => {
    const now = performance.now()
    this.lag = Math.max(0, now - this.#due)
    this.#due = now + SAMPLE_MS
  }
}
