import { Clock, Effect, Either, type Scope } from "effect"
import type { SimulatorCore, StreamConfig } from "./Core.js"
import { hash4, Prng } from "./Hash.js"

const DEFAULT_TABLES = ["incident", "em_event", "change_request", "problem"] as const
const TICK = "100 millis"
/** A stalled event loop must not come back to one enormous catch-up mutation. */
const MAX_PER_TICK = 10_000

/**
 * The background mutation stream: `core.stream.perSecond` mutations a second, spread over the
 * configured tables by the mix, plus periodic bursts of updates on one timestamp. It reads its
 * configuration every tick, so `POST /__sim/stream` takes effect at once. Runs on Effect's Clock.
 */
export const start = (core: SimulatorCore): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    let carry = 0
    let ticks = 0
    let last = yield* Clock.currentTimeMillis
    let lastBurst = last
    const step = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const config = core.stream
      const elapsed = now - last
      last = now
      if (config.perSecond <= 0) {
        carry = 0
        lastBurst = now
        return
      }
      carry += (elapsed / 1000) * config.perSecond
      const n = Math.min(MAX_PER_TICK, Math.floor(carry))
      carry -= n
      const rng = new Prng(hash4(core.dataset.seedHash, 0x57e4, ticks++))
      const plan = planTick(config, n, rng)
      const burstDue = (config.burstEvery ?? 0) > 0 && (config.burstSize ?? 0) > 0 &&
        now - lastBurst >= (config.burstEvery ?? 0) * 1000
      if (burstDue) {
        lastBurst = now
        plan.push({ table: rng.pick(tablesOf(config)), updates: config.burstSize ?? 0, sameTimestamp: true })
      }
      for (const request of plan) {
        const result = core.mutate(request)
        if (Either.isLeft(result)) {
          yield* Effect.logWarning("Mutation stream skipped a mutation").pipe(
            Effect.annotateLogs({ table: request.table, reason: result.left.message })
          )
        }
      }
    })
    yield* step.pipe(Effect.zipRight(Effect.sleep(TICK)), Effect.forever, Effect.forkScoped)
  })

const tablesOf = (config: StreamConfig): ReadonlyArray<string> =>
  config.tables !== undefined && config.tables.length > 0 ? config.tables : DEFAULT_TABLES

interface TickMutation {
  table: string
  creates?: number
  updates?: number
  deletes?: number
  sameTimestamp?: boolean
}

/** Spreads `n` mutations over tables and kinds; one mutate call per table per tick. */
const planTick = (config: StreamConfig, n: number, rng: Prng): Array<TickMutation> => {
  const tables = tablesOf(config)
  const weights = [config.mix?.create ?? 2, config.mix?.update ?? 7, config.mix?.delete ?? 1]
  const byTable = new Map<string, { creates: number; updates: number; deletes: number }>()
  for (let i = 0; i < n; i++) {
    const table = rng.pick(tables)
    const entry = byTable.get(table) ?? { creates: 0, updates: 0, deletes: 0 }
    const kind = rng.weighted(["creates", "updates", "deletes"] as const, weights)
    entry[kind]++
    byTable.set(table, entry)
  }
  return [...byTable.entries()].map(([table, counts]) => ({ table, ...counts }))
}
