/**
 * How failures shape a run: a failing hard parent skips its dependants with the reason, a failing
 * soft parent blocks nobody, and a source that changes during a full sync is caught by the next delta.
 */
import { expect, layer } from "@effect/vitest"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { Effect } from "effect"
import { SyncEngine } from "../src/SyncEngine.js"
import { StartRunRequest } from "../src/SyncRun.js"
import { awaitRun, cacheOf, ENTITIES, ORG, truthOf } from "./SyncFixture.js"
import * as SyncFixture from "./SyncFixture.js"

const run = (syncType: "full" | "delta") =>
  Effect.flatMap(SyncEngine, (engine) =>
    Effect.flatMap(
      engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType })),
      (started) => awaitRun(started.runId)
    ))

const statusOf = (run: { readonly entityRuns: ReadonlyArray<{ readonly entity: string; readonly status: string }> }) =>
  Object.fromEntries(run.entityRuns.map((e) => [e.entity, e.status]))

const withFault = (table: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.flatMap(ItsmSimulator.ItsmSimulator, (sim) =>
      sim.addFault({ kind: "5xx", count: 1_000_000, table, status: 503 }).pipe(
        Effect.zipRight(effect),
        Effect.ensuring(sim.clearFaults())
      ))

layer(
  SyncFixture.layer({ prefix: "outcomes", adapter: { maxRetries: 1 } }),
  { excludeTestServices: true, timeout: "180 seconds" }
)("run outcomes", (it) => {
  it.effect("a failing hard parent skips its dependants with the reason; the run is partial", () =>
    Effect.gen(function*() {
      const result = yield* run("full").pipe(withFault("cmdb_ci"))
      expect(result.status).toBe("partial")
      expect(statusOf(result)).toEqual({
        sys_user: "succeeded",
        sys_user_group: "succeeded",
        cmdb_ci: "failed",
        change_request: "skipped",
        problem: "skipped",
        em_event: "skipped",
        incident: "skipped"
      })
      const cmdb = result.entityRuns.find((e) => e.entity === "cmdb_ci")!
      expect(cmdb.error).toContain("HTTP 503")
      expect(result.entityRuns.find((e) => e.entity === "incident")!.reason).toBe("hard parent cmdb_ci failed")
      expect(result.error).toContain("cmdb_ci")
    }))

  it.effect("a failing soft parent blocks nobody", () =>
    Effect.gen(function*() {
      const result = yield* run("full").pipe(withFault("sys_user_group"))
      expect(result.status).toBe("partial")
      const statuses = statusOf(result)
      expect(statuses.sys_user_group).toBe("failed")
      for (const entity of ENTITIES.filter((e) => e !== "sys_user_group")) expect(statuses[entity], entity).toBe("succeeded")
    }))

  it.effect("moving target: the source mutates during a full sync; after the next delta the cache equals it", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const engine = yield* SyncEngine
      yield* sim.setLatency({ ms: 15 })
      const started = yield* engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full" }))
      // Mutate every table while the full sync pages through them.
      for (let round = 0; round < 8; round++) {
        yield* sim.advanceClock(1)
        for (const table of ENTITIES) {
          yield* Effect.orDie(sim.mutate({ table, creates: 3, updates: 6, deletes: 1 }))
        }
        yield* Effect.sleep("60 millis")
      }
      const full = yield* awaitRun(started.runId)
      expect(full.status).toBe("succeeded")
      yield* sim.setLatency({ ms: 0 })
      yield* sim.advanceClock(2)
      const delta = yield* run("delta")
      expect(delta.status).toBe("succeeded")
      for (const entity of ENTITIES) {
        const cache = yield* cacheOf(entity)
        const truth = yield* truthOf(entity)
        expect(cache.map((r) => r.raw), entity).toEqual(truth)
      }
    }))
})
