/** A first-in first-out queue whose `shift` takes constant time, unlike `Array.prototype.shift` on long arrays. */
export class Fifo<T> {
  #items: Array<T | undefined> = []
  #head = 0

  get length(): number {
    return this.#items.length - this.#head
  }

  push(item: T): void {
    this.#items.push(item)
  }

  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined
    if (this.#head === this.#items.length) {
      this.#items.length = 0
      this.#head = 0
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  /** Empties the queue and returns what it held, oldest first. */
  takeAll(): T[] {
    const items = this.#items.slice(this.#head) as T[]
    this.#items = []
    this.#head = 0
    return items
  }

  /** What the queue holds, oldest first (a copy). */
  toArray(): T[] {
    return this.#items.slice(this.#head) as T[]
  }
}
