/** How long a test waits for an event before it fails, in ms: a bound, never a way to synchronise. */
export const EVENT_TIMEOUT = 4000

interface Waiter<T> {
  predicate: (item: T) => boolean
  what: string
  resolve: (item: T) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

/**
 * Everything one source (a process's output, a client's messages, the broker's packets) has produced, in
 * order, and waits for an item that has arrived or will: `waitFor` looks at the history first, so an event
 * that came before the test asked for it is not missed.
 */
export class Inbox<T> {
  readonly items: T[] = []
  readonly #waiters = new Set<Waiter<T>>()
  readonly #describe: () => string
  #ended: string | undefined = undefined

  /** `describe` says what was received so far, for failure messages. */
  constructor(describe: () => string = () => '') {
    this.#describe = describe
  }

  push(item: T): void {
    this.items.push(item)
    for (const waiter of this.#waiters) {
      if (!waiter.predicate(item)) continue
      this.#waiters.delete(waiter)
      clearTimeout(waiter.timer)
      waiter.resolve(item)
    }
  }

  /** No item will come any more (the process exited, the client closed): pending waits fail at once. */
  end(reason: string): void {
    this.#ended = reason
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer)
      waiter.reject(this.#error(`${reason} before`, waiter.what))
    }
    this.#waiters.clear()
  }

  /** The first item, received or to come, for which `predicate` holds; `what` names it in failures. */
  waitFor(predicate: (item: T) => boolean, what: string, timeout = EVENT_TIMEOUT): Promise<T> {
    const found = this.items.find(predicate)
    if (found !== undefined) return Promise.resolve(found)
    if (this.#ended !== undefined) return Promise.reject(this.#error(`${this.#ended} before`, what))
    return new Promise((resolve, reject) => {
      const waiter: Waiter<T> = {
        predicate,
        what,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter)
          reject(this.#error(`no ${what} within ${timeout} ms`, ''))
        }, timeout),
      }
      this.#waiters.add(waiter)
    })
  }

  #error(message: string, what: string): Error {
    const seen = this.#describe()
    return new Error(`${message}${what ? ` ${what}` : ''}${seen ? `; received so far:\n${seen}` : ''}`)
  }
}
