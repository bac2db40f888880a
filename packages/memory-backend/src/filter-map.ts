/**
 * What one client holds by topic filter (its routes, its persisted subscriptions). Most clients hold one
 * subscription: it is kept inline, and a Map (about 230 bytes even when nearly empty) is made only for a
 * second one.
 */
export class FilterMap<V> {
  #topic: string | undefined = undefined
  #value: V | undefined = undefined
  #many: Map<string, V> | undefined = undefined

  get size(): number {
    return this.#many !== undefined ? this.#many.size : this.#topic === undefined ? 0 : 1
  }

  get(topic: string): V | undefined {
    if (this.#many !== undefined) return this.#many.get(topic)
    return topic === this.#topic ? this.#value : undefined
  }

  set(topic: string, value: V): void {
    if (this.#many !== undefined) this.#many.set(topic, value)
    else if (this.#topic === undefined || this.#topic === topic) {
      this.#topic = topic
      this.#value = value
    } else {
      this.#many = new Map([[this.#topic, this.#value as V]])
      this.#many.set(topic, value)
      this.#topic = undefined
      this.#value = undefined
    }
  }

  delete(topic: string): boolean {
    if (this.#many !== undefined) return this.#many.delete(topic)
    if (topic !== this.#topic) return false
    this.#topic = undefined
    this.#value = undefined
    return true
  }

  clear(): void {
    this.#many = undefined
    this.#topic = undefined
    this.#value = undefined
  }

  /** The values, in the order their filters were first set. */
  values(): Iterable<V> {
    if (this.#many !== undefined) return this.#many.values()
    return this.#topic === undefined ? [] : [this.#value as V]
  }
}
