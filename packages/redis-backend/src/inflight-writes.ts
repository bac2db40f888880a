/**
 * The outbound QoS 1/2 writes of a session kept in Redis (a packet stored until acknowledged, then removed)
 * made in one tick go to Redis as one script call per client id (`inflightWrites`), in the order they were
 * made: a subscriber draining its queue stores its whole window at once, and acknowledgements come in
 * bursts. A command that reads or replaces that state (a lookup, a session stored or removed) sends the
 * client's pending writes first (`flush`), so Redis runs everything in the order it was asked.
 */

/** Sends one client's writes: the script's arguments after the keys and the three fixed ones. */
export type SendWrites = (clientId: string, writes: (string | number)[]) => Promise<number[]>

interface Answer {
  resolve(result: number): void
  reject(err: unknown): void
}

class Pending {
  readonly writes: (string | number)[] = []
  readonly answers: Answer[] = []
}

export class InflightWrites {
  readonly #pending = new Map<string, Pending>()
  #scheduled = false

  constructor(readonly send: SendWrites) {}

  /** storeInflight's result: 1 stored, 0 no session, -1 the inflight hash is full. */
  store(clientId: string, messageId: number, text: string, origin: string | undefined): Promise<number> {
    return this.#add(clientId, 's', messageId, text, origin ?? '')
  }

  async remove(clientId: string, messageId: number): Promise<void> {
    await this.#add(clientId, 'r', messageId, '', '')
  }

  /** Sends the pending writes of `clientId` now, before a command that must come after them. */
  flush(clientId: string): void {
    const pending = this.#pending.get(clientId)
    if (pending === undefined) return
    this.#pending.delete(clientId)
    this.#send(clientId, pending)
  }

  #add(clientId: string, kind: 's' | 'r', messageId: number, text: string, origin: string): Promise<number> {
    let pending = this.#pending.get(clientId)
    if (pending === undefined) {
      pending = new Pending()
      this.#pending.set(clientId, pending)
      if (!this.#scheduled) {
        this.#scheduled = true
        process.nextTick(this.#flushAll)
      }
    }
    const answers = pending.answers
    pending.writes.push(kind, messageId, text, origin)
    return new Promise<number>((resolve, reject) => {
      answers.push({ resolve, reject })
    })
  }

  readonly #flushAll = (): void => {
    this.#scheduled = false
    const all = [...this.#pending]
    this.#pending.clear()
    for (const [clientId, pending] of all) this.#send(clientId, pending)
  }

  #send(clientId: string, { writes, answers }: Pending): void {
    this.send(clientId, writes).then(
      (results) => {
        for (let i = 0; i < answers.length; i++) answers[i]!.resolve(results[i] ?? 0)
      },
      (err: unknown) => {
        for (const answer of answers) answer.reject(err)
      },
    )
  }
}
