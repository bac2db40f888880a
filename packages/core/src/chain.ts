import type { Done, Next } from './callbacks.js'
import { ErrorCode, MqttStackError, toMqttStackError } from './errors.js'

/** A handler as the chain calls it: `handle(client, packet, next, done)` or `cb(ctx, store, next, done)`. */
export type ChainHandler = (this: object, a: unknown, b: unknown, next: Next, done: Done) => unknown

/** The handlers of one packet type or one callback name, computed once at `use()`. */
export interface HandlerList {
  readonly owners: readonly object[]
  readonly fns: readonly ChainHandler[]
}

export type ChainEnd = (err: MqttStackError | null, b: unknown) => void

export const EMPTY_LIST: HandlerList = Object.freeze({ owners: Object.freeze([]), fns: Object.freeze([]) })

/** Where a chain reports what it cannot hand to its caller: a late `next`, a throw after `next`. */
export interface ChainReporter {
  reportError(err: MqttStackError): void
}

const MAX_POOLED = 1024

/**
 * Runs one chain. Runs are pooled, so a chain in the fast mode allocates nothing: `next` and `done` are
 * bound once per Run. In strict mode each step gets its own `next`/`done`, which detect a second call
 * even after the Run has been reused; the fast mode detects only calls on an idle Run.
 */
class Run {
  readonly next: Next
  readonly done: Done
  owners: readonly object[] = EMPTY_LIST.owners
  fns: readonly ChainHandler[] = EMPTY_LIST.fns
  index = 0
  a: unknown = undefined
  b: unknown = undefined
  end: ChainEnd | undefined = undefined
  generation = 0
  active = false

  constructor(private readonly runner: ChainRunner) {
    this.next = (err) => {
      if (this.active) this.advance(err)
      else this.runner.reportLate('next')
    }
    this.done = (err) => {
      if (this.active) this.finish(err)
      else this.runner.reportLate('done')
    }
  }

  advance(err: Error | null | undefined): void {
    const i = this.index
    if (err || i >= this.fns.length) {
      this.finish(err)
      return
    }
    this.index = i + 1
    const generation = this.generation
    let next = this.next
    let done = this.done
    if (this.runner.strict) {
      const step = this.runner.strictStep(this, generation)
      next = step.next
      done = step.done
    }
    try {
      const result = this.fns[i]!.call(this.owners[i]!, this.a, this.b, next, done)
      if (result instanceof Promise) {
        result.then(undefined, (reason: unknown) => this.fail(reason, generation))
      }
    } catch (err) {
      this.fail(err, generation)
    }
  }

  /** A handler threw or rejected: end its chain, or report it when the chain is already over. */
  fail(reason: unknown, generation: number): void {
    if (this.active && this.generation === generation)
      this.finish(reason instanceof Error ? reason : toMqttStackError(reason))
    else this.runner.reportError(toMqttStackError(reason))
  }

  finish(err: Error | null | undefined): void {
    const end = this.end!
    const b = this.b
    this.active = false
    this.a = undefined
    this.b = undefined
    this.end = undefined
    this.runner.release(this)
    try {
      end(err ? toMqttStackError(err) : null, b)
    } catch (thrown) {
      this.runner.reportError(toMqttStackError(thrown))
    }
  }
}

/** Owns the pool of Runs of one Stack and the strict-mode checks. */
export class ChainRunner {
  readonly #pool: Run[] = []

  constructor(
    readonly strict: boolean,
    private readonly reporter: ChainReporter,
  ) {}

  run(list: HandlerList, a: unknown, b: unknown, end: ChainEnd): void {
    if (list.fns.length === 0) {
      end(null, b)
      return
    }
    const run = this.#pool.pop() ?? new Run(this)
    run.owners = list.owners
    run.fns = list.fns
    run.index = 0
    run.a = a
    run.b = b
    run.end = end
    run.generation++
    run.active = true
    run.advance(null)
  }

  release(run: Run): void {
    run.owners = EMPTY_LIST.owners
    run.fns = EMPTY_LIST.fns
    if (this.#pool.length < MAX_POOLED) this.#pool.push(run)
  }

  /** Strict mode: a `next`/`done` pair for one step, valid once, and only while its chain runs. */
  strictStep(run: Run, generation: number): { next: Next; done: Done } {
    let called = false
    const guard = (which: 'next' | 'done'): boolean => {
      if (called || !run.active || run.generation !== generation) {
        this.reportLate(which)
        return false
      }
      called = true
      return true
    }
    return {
      next: (err) => {
        if (guard('next')) run.advance(err)
      },
      done: (err) => {
        if (guard('done')) run.finish(err)
      },
    }
  }

  reportLate(which: 'next' | 'done'): void {
    this.reporter.reportError(
      new MqttStackError(
        ErrorCode.NEXT_TWICE,
        `${which}() was called more than once, or after its chain had ended; the call was ignored`,
      ),
    )
  }

  reportError(err: MqttStackError): void {
    this.reporter.reportError(err)
  }
}
