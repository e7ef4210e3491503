/**
 * Request budgets shared by everything that calls one source for one org: all entity syncs of an
 * (org, adapter) draw from the same bucket, and a 429 pauses the whole bucket, not just the caller.
 */
import { Clock, Context, Duration, Effect, Layer, Ref } from "effect"

export interface RateBudgetSettings {
  /** Sustained requests per second; `Infinity` for no limit. */
  readonly requestsPerSecond: number
  /** Requests allowed at once after idling; default 1. */
  readonly burst?: number
}

export interface RateBudget {
  /** Waits for the next request slot. */
  readonly acquire: Effect.Effect<void>
  /** The source said "not before `millis` from now": no request of this budget goes out until then. */
  readonly pauseFor: (millis: number) => Effect.Effect<void>
}

interface BucketState {
  /** Earliest time (epoch ms) the next request may go, ignoring the burst allowance. */
  readonly nextSlot: number
  readonly pausedUntil: number
}

/**
 * A GCRA bucket: each acquire reserves a slot atomically and then sleeps until it, so concurrent
 * callers queue without a lock and the rate holds across them.
 */
export const makeBudget = (settings: RateBudgetSettings): Effect.Effect<RateBudget> =>
  Effect.gen(function*() {
    const state = yield* Ref.make<BucketState>({ nextSlot: 0, pausedUntil: 0 })
    const unlimited = !Number.isFinite(settings.requestsPerSecond) || settings.requestsPerSecond <= 0
    const interval = unlimited ? 0 : 1000 / settings.requestsPerSecond
    const tolerance = Math.max(0, (settings.burst ?? 1) - 1) * interval
    const acquire = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const wait = yield* Ref.modify(state, (s) => {
        const earliest = Math.max(now, s.pausedUntil)
        if (unlimited) return [earliest - now, s] as const
        const slot = Math.max(earliest, s.nextSlot - tolerance)
        return [slot - now, { ...s, nextSlot: Math.max(s.nextSlot, earliest) + interval }] as const
      })
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
    })
    const pauseFor = (millis: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.update(state, (s) => ({ ...s, pausedUntil: Math.max(s.pausedUntil, now + millis) })))
    return { acquire, pauseFor }
  })

/** The budgets of this process, one per (org, adapter), created on first use. */
export class RateBudgets extends Context.Tag("@tidemark/adapter-core/RateBudgets")<RateBudgets, {
  readonly forSource: (org: string, adapter: string, settings: RateBudgetSettings) => Effect.Effect<RateBudget>
}>() {}

export const make = Effect.gen(function*() {
  const budgets = new Map<string, RateBudget>()
  const lock = yield* Effect.makeSemaphore(1)
  return RateBudgets.of({
    forSource: (org, adapter, settings) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const key = `${org}\u0000${adapter}`
        const existing = budgets.get(key)
        if (existing) return Effect.succeed(existing)
        return Effect.tap(makeBudget(settings), (budget) => Effect.sync(() => budgets.set(key, budget)))
      }))
  })
})

export const layer: Layer.Layer<RateBudgets> = Layer.effect(RateBudgets, make)
