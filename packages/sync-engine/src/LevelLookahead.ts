/**
 * While a level of a run syncs, the next level's entity runs are planned (their water marks read
 * from the source) and the first page of each of their partitions is prepared, on this node, in the
 * background. Each level used to start with two round trips to the source in a row, the water marks
 * then the first pages, with the rate budget idle; behind a slow source they were most of the time a
 * small level took. Nothing is recorded early: the start activity of the entity run takes the plan
 * (and its pages take the prefetched pages) when they run on this node, and makes them anew
 * otherwise, like any prefetch.
 */
import { SqlClient } from "@effect/sql"
import { Context, Duration, Effect, Fiber, Layer, Option } from "effect"
import { AdapterRegistry } from "./AdapterRegistry.js"
import { EngineConfig } from "./EngineConfig.js"
import * as EntityPlan from "./EntityPlan.js"
import { PagePrefetch } from "./PagePrefetch.js"

export interface LevelLookaheadShape {
  /**
   * Called as a level starts, with the levels after it: plans their entity runs (once each), and
   * prefetches the first pages of the next level's, in the background. Runs that are not pending any
   * more (an orchestrator replaying its levels after a restart) are left alone.
   */
  readonly prepare: (later: ReadonlyArray<ReadonlyArray<EntityPlan.Payload>>) => Effect.Effect<void>
  /** The plan made ahead for this entity run on this node, if one was made and succeeded; taken once. */
  readonly takePlan: (p: EntityPlan.Payload) => Effect.Effect<Option.Option<EntityPlan.Plan>>
}

export class LevelLookahead extends Context.Tag("@tidemark/sync-engine/LevelLookahead")<
  LevelLookahead,
  LevelLookaheadShape
>() {}

const keyOf = (p: EntityPlan.Payload) => `${p.orgId}/${p.adapter}/${p.runId}/${p.entity}`

/** A plan nobody took within this time is forgotten (its run was cancelled, or moved to another node). */
const unclaimedAfter = Duration.minutes(5)

export interface LevelLookaheadOptions {
  /**
   * Whether the entity run's workflow runs on this node: a plan or a page made here for a workflow
   * that runs elsewhere would only cost the source requests twice.
   */
  readonly runsHere: (p: EntityPlan.Payload) => Effect.Effect<boolean>
}

export const make = (options: LevelLookaheadOptions) => Effect.gen(function*() {
  const scope = yield* Effect.scope
  const context = yield* Effect.context<AdapterRegistry | EngineConfig | PagePrefetch | SqlClient.SqlClient>()
  const prefetch = yield* PagePrefetch
  const plans = new Map<string, Fiber.RuntimeFiber<Option.Option<EntityPlan.Plan>>>()

  const pending = (p: EntityPlan.Payload) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ status: string }>`
        SELECT status FROM sync_entity_runs WHERE run_id = ${p.runId} AND entity = ${p.entity}`).pipe(
      Effect.map((rows) => rows[0]?.status === "pending")
    )

  const planAhead = (p: EntityPlan.Payload) =>
    Effect.gen(function*() {
      if (!(yield* options.runsHere(p)) || !(yield* pending(p))) return Option.none<EntityPlan.Plan>()
      return Option.some(yield* EntityPlan.plan(p))
    }).pipe(
      // An optimisation only: whatever fails here is done again, and reported, by the run itself.
      Effect.catchAllCause(() => Effect.succeed(Option.none<EntityPlan.Plan>())),
      Effect.provide(context)
    )

  const pagesAhead = (p: EntityPlan.Payload, planned: Fiber.RuntimeFiber<Option.Option<EntityPlan.Plan>>) =>
    Effect.gen(function*() {
      const made = yield* Fiber.join(planned)
      if (Option.isNone(made) || made.value.mode === "reconciliation") return
      const config = yield* EngineConfig
      for (const [index, partition] of made.value.partitions.entries()) {
        // Without their parents: the level they reference is still being synced.
        const preparer = yield* EntityPlan.pagePreparer(p, partition, false)
        yield* prefetch.startAhead(
          EntityPlan.streamOf(p, index),
          partition.after,
          config.pageSize,
          preparer(partition.after, made.value.lookback)
        )
      }
    }).pipe(Effect.catchAllCause(() => Effect.void), Effect.provide(context))

  const planOnce = (p: EntityPlan.Payload) =>
    Effect.gen(function*() {
      const key = keyOf(p)
      const existing = plans.get(key)
      if (existing !== undefined) return existing
      const fiber = yield* Effect.forkIn(planAhead(p), scope)
      plans.set(key, fiber)
      yield* Effect.forkIn(
        Effect.delay(Effect.sync(() => plans.get(key) === fiber && plans.delete(key)), unclaimedAfter),
        scope
      )
      return fiber
    })

  const paged = new Set<string>()

  // Plans of later levels are small requests made once; pages only for the next level, whose wait
  // for the running one is the shortest.
  const prepare: LevelLookaheadShape["prepare"] = (later) =>
    Effect.forEach(later, (level, index) =>
      Effect.forEach(level, (p) =>
        Effect.gen(function*() {
          const planned = yield* planOnce(p)
          const key = keyOf(p)
          if (index > 0 || paged.has(key)) return
          paged.add(key)
          // Forgotten after a while (interruptibly: a finalizer would hold the node's shutdown that long).
          yield* Effect.forkIn(
            Effect.zipRight(pagesAhead(p, planned), Effect.delay(Effect.sync(() => paged.delete(key)), unclaimedAfter)),
            scope
          )
        }), { discard: true }), { discard: true })

  const takePlan: LevelLookaheadShape["takePlan"] = (p) =>
    Effect.suspend(() => {
      const key = keyOf(p)
      const fiber = plans.get(key)
      if (fiber === undefined) return Effect.succeed(Option.none())
      plans.delete(key)
      return Fiber.join(fiber)
    })

  return LevelLookahead.of({ prepare, takePlan })
})

export const layer = <R>(
  runsHere: (p: EntityPlan.Payload) => Effect.Effect<boolean, never, R>
): Layer.Layer<LevelLookahead, never, AdapterRegistry | EngineConfig | PagePrefetch | SqlClient.SqlClient | R> =>
  Layer.scoped(
    LevelLookahead,
    Effect.flatMap(Effect.context<R>(), (context) => make({ runsHere: (p) => Effect.provide(runsHere(p), context) }))
  )

/** For places that run without looking ahead (tests, tools). */
export const none: LevelLookaheadShape = {
  prepare: () => Effect.void,
  takePlan: () => Effect.succeed(Option.none())
}
