import type { Done, Next } from './callbacks.js'
import { ErrorCode, MqttStackError, toMqttStackError } from './errors.js'
import { nameOf } from './middleware.js'

/** A handler as the chain calls it: `handle(client, packet, next, done)` or `cb(ctx, store, next, done)`. */
export type ChainHandler = (this: object, a: unknown, b: unknown, next: Next, done: Done) => unknown

/** Why a handler gets a `next`/`done` of its own step instead of the ones its chain shares (see Run). */
export const OWN_PAIR = Object.freeze({
  /** An `async function`: it answers after an `await`, and it allocates a promise per call anyway. */
  ASYNC: 1,
  /** It has answered after returning once (a callback-style async handler): learnt at run time. */
  OBSERVED: 2,
  /** It was among the handlers a misuse could not be pinned on: a repeat then names the culprit. */
  SUSPECT: 4,
  /** Strict mode: every handler. */
  STRICT: 8,
})

/** The handlers of one packet type or one callback name, computed once at `use()`. */
export interface HandlerList {
  readonly owners: readonly object[]
  readonly fns: readonly ChainHandler[]
  /** Per handler, `OWN_PAIR` flags; learnt flags are set at run time. Any flag: its own next/done. */
  readonly own: number[]
}

export type ChainEnd = (err: MqttStackError | null, b: unknown) => void
/** What `executeThen` runs when its chain ends: the result, the input, and the caller's own next/done. */
export type ChainThen = (err: MqttStackError | null, b: unknown, a: unknown, next: Next, done: Done) => void

export const EMPTY_LIST: HandlerList = Object.freeze({
  owners: Object.freeze([]),
  fns: Object.freeze([]),
  own: [],
})

/** Where a chain reports what it cannot hand to its caller: a late `next`, a throw after `next`. */
export interface ChainReporter {
  reportError(err: MqttStackError): void
}

/** No step: the chain has ended, or no handler of it is on the stack, or the caller is not known. */
const NONE = -1
/** `Run.executing` while a handler with a pair of its own runs. */
const OWN = -2
/** `Run.pending` of step i when it has a pair of its own is `OWN_PENDING - i`: apart from NONE and OWN. */
const OWN_PENDING = -3

/**
 * One chain: one packet through `handle`, or one `execute`. A Run is never reused, so a `next` or `done`
 * kept past its chain can reach only that Run, which has moved on or ended: it cannot advance, end or skip
 * another client's chain or a later packet's. That costs one Run and one `next`/`done` pair per chain, not
 * per middleware.
 *
 * Inside a chain, the steps share that pair, and a call is told apart by where it comes from: a call made
 * while a handler of this chain is on the stack is that handler's; a call made later is the waiting step's.
 * A handler that may answer later gets a pair of its own step instead (an `async function`, one seen to
 * answer after returning, every handler in strict mode), so a late second call of an earlier step is never
 * taken for it.
 */
class Run {
  readonly next: Next
  readonly done: Done
  /** The next step to start. */
  index = 0
  /** The step whose answer the chain waits for: i (shared pair), `OWN_PENDING - i` (its own pair), or NONE. */
  pending = NONE
  /** The innermost step whose handler is on the stack: i (shared pair), OWN (its own pair), or NONE. */
  executing = NONE

  constructor(
    private readonly reporter: ChainReporter,
    private readonly list: HandlerList,
    private a: unknown,
    private b: unknown,
    private end: ChainEnd | undefined,
  ) {
    this.next = (err) => this.shared(err, false)
    this.done = (err) => this.shared(err, true)
  }

  advance(err: Error | null | undefined): void {
    const list = this.list
    const i = this.index
    if (err || i >= list.fns.length) {
      this.finish(err)
      return
    }
    this.index = i + 1
    let next = this.next
    let done = this.done
    let running = i
    if (list.own[i] === 0) {
      this.pending = i
    } else {
      const step = this.ownStep(i)
      next = step.next
      done = step.done
      this.pending = OWN_PENDING - i
      running = OWN
    }
    const outer = this.executing
    this.executing = running
    let result: unknown
    try {
      result = list.fns[i]!.call(list.owners[i]!, this.a, this.b, next, done)
    } catch (thrown) {
      this.executing = outer
      this.fail(thrown, i)
      return
    }
    this.executing = outer
    if (result instanceof Promise) this.watch(result, i)
  }

  /** A `next`/`done` for step `i` alone (kept out of `advance`, so that allocates no context). */
  ownStep(i: number): { next: Next; done: Done } {
    return { next: (err) => this.own(i, err, false), done: (err) => this.own(i, err, true) }
  }

  watch(result: Promise<unknown>, i: number): void {
    result.then(undefined, (reason: unknown) => this.fail(reason, i))
  }

  /** A call of the chain's shared `next` (`end` false) or `done`. */
  shared(err: Error | null | undefined, end: boolean): void {
    const pending = this.pending
    if (this.executing === NONE) {
      if (pending >= 0) {
        // It answers after returning: from the next chain on it gets a pair of its own.
        const { own } = this.list
        own[pending] = own[pending]! | OWN_PAIR.OBSERVED
        this.pending = NONE
        if (end) this.finish(err)
        else this.advance(err)
      } else this.misuse(NONE, end)
    } else if (this.executing === pending) {
      this.pending = NONE
      if (end) this.finish(err)
      else this.advance(err)
    } else this.misuse(this.executing >= 0 ? this.executing : NONE, end)
  }

  /** A call of the `next`/`done` of step `i` alone. */
  own(i: number, err: Error | null | undefined, end: boolean): void {
    if (this.pending === OWN_PENDING - i) this.answer(err, end)
    else this.misuse(i, end)
  }

  answer(err: Error | null | undefined, end: boolean): void {
    this.pending = NONE
    if (end) this.finish(err)
    else this.advance(err)
  }

  /** A handler threw or rejected: that is its step's `next(err)`, or, once it has answered, only reported. */
  fail(reason: unknown, i: number): void {
    if (this.pending === i || this.pending === OWN_PENDING - i) {
      this.pending = NONE
      this.finish(reason instanceof Error ? reason : toMqttStackError(reason))
    } else this.reporter.reportError(toMqttStackError(reason))
  }

  finish(err: Error | null | undefined): void {
    const a = this.a
    const b = this.b
    this.pending = NONE
    this.a = undefined
    this.b = undefined
    try {
      this.settle(err ? toMqttStackError(err) : null, a, b)
    } catch (thrown) {
      this.reporter.reportError(toMqttStackError(thrown))
    }
  }

  /** Hands the result to whoever started the chain. */
  settle(err: MqttStackError | null, _a: unknown, b: unknown): void {
    const end = this.end!
    this.end = undefined
    end(err, b)
  }

  /** A second or late call: ignored, and reported once, naming the handler whose step it belongs to. */
  misuse(caller: number, end: boolean): void {
    const { owners, own } = this.list
    let who: string
    if (caller !== NONE) {
      who = nameOf(owners[caller]!)
    } else {
      // A late call of the shared pair: any step of this chain that was handed it may have kept it. Those
      // get a pair of their own from now on, so that a repeat names the one at fault.
      const suspects: string[] = []
      for (let i = 0; i < this.index; i++) {
        if (own[i]! & (OWN_PAIR.ASYNC | OWN_PAIR.STRICT)) continue
        suspects.push(nameOf(owners[i]!))
        own[i] = own[i]! | OWN_PAIR.SUSPECT
      }
      who = `one of ${suspects.join(', ')} (the fast mode cannot tell which; a repeat, or strict mode, names it)`
    }
    this.reporter.reportError(
      new MqttStackError(
        ErrorCode.NEXT_TWICE,
        `${end ? 'done' : 'next'}() given to ${who} was called twice, or after its chain had moved on; the call was ignored`,
      ),
    )
  }
}

/** A chain whose result goes to a `then` with the caller's own next/done: no closure to carry them. */
class ThenRun extends Run {
  constructor(
    reporter: ChainReporter,
    list: HandlerList,
    a: unknown,
    b: unknown,
    private continuation: ChainThen | undefined,
    private callerNext: Next,
    private callerDone: Done,
  ) {
    super(reporter, list, a, b, undefined)
  }

  override settle(err: MqttStackError | null, a: unknown, b: unknown): void {
    const continuation = this.continuation!
    this.continuation = undefined
    continuation(err, b, a, this.callerNext, this.callerDone)
  }
}

/** Runs the chains of one Stack. */
export class ChainRunner {
  constructor(
    readonly strict: boolean,
    private readonly reporter: ChainReporter,
  ) {}

  run(list: HandlerList, a: unknown, b: unknown, end: ChainEnd): void {
    if (list.fns.length === 0) {
      end(null, b)
      return
    }
    new Run(this.reporter, list, a, b, end).advance(null)
  }

  runThen(list: HandlerList, a: unknown, b: unknown, then: ChainThen, next: Next, done: Done): void {
    if (list.fns.length === 0) {
      then(null, b, a, next, done)
      return
    }
    new ThenRun(this.reporter, list, a, b, then, next, done).advance(null)
  }
}
