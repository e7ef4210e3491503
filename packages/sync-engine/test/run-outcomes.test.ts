/**
 * How failures shape a run: a failing hard parent skips its dependants with the reason, a failing
 * soft parent blocks nobody, and a source that changes during a full sync is caught by the next delta.
 */
import { SqlClient } from "@effect/sql"
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

  it.effect("a hard parent missing from the cache is fetched by key before the child is stored", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const sql = yield* SqlClient.SqlClient
      const base = yield* run("delta")
      expect(["succeeded", "partial"]).toContain(base.status)
      const [victim] = yield* sql<{ key: string; ci: string }>`
        SELECT key, cmdb_ci AS ci FROM cache_itsm_incident
        WHERE org_id = ${ORG} AND cmdb_ci IS NOT NULL AND deleted_at IS NULL ORDER BY key LIMIT 1`
      // The parent vanishes from the cache (not from the source); its child changes at the source.
      yield* sql`DELETE FROM cache_itsm_cmdb_ci WHERE org_id = ${ORG} AND key = ${victim!.ci}`
      yield* sim.advanceClock(10)
      yield* Effect.orDie(sim.mutate({ table: "incident", updateKeys: [victim!.key] }))
      yield* sim.advanceClock(1)
      const engine = yield* SyncEngine
      const started = yield* engine.startRun(
        new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "delta", entities: ["incident"] })
      )
      const result = yield* awaitRun(started.runId)
      expect(result.status).toBe("succeeded")
      expect(result.entityRuns.map((e) => e.entity).sort()).toEqual(["cmdb_ci", "incident", "sys_user"])
      const parent = yield* sql<{ key: string }>`
        SELECT key FROM cache_itsm_cmdb_ci WHERE org_id = ${ORG} AND key = ${victim!.ci} AND deleted_at IS NULL`
      expect(parent.map((r) => r.key)).toEqual([victim!.ci])
      const truth = (yield* truthOf("cmdb_ci")).find((r) => r.sys_id === victim!.ci)
      const cached = (yield* cacheOf("cmdb_ci")).find((r) => r.key === victim!.ci)
      expect(cached?.raw).toEqual(truth)
    }))

  it.effect("cancelling a run stops it and marks what had not finished", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const engine = yield* SyncEngine
      yield* sim.setLatency({ ms: 200 })
      const started = yield* engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full" }))
      yield* Effect.sleep("700 millis")
      const cancelled = yield* engine.cancelRun(started.runId).pipe(Effect.ensuring(sim.setLatency({ ms: 0 })))
      expect(cancelled.status).toBe("cancelled")
      expect(cancelled.entityRuns.some((e) => e.status === "cancelled")).toBe(true)
      expect(cancelled.entityRuns.every((e) => e.status !== "running" && e.status !== "pending")).toBe(true)
      // The cancelled run no longer blocks the next one.
      const next = yield* run("delta")
      expect(next.status).toBe("succeeded")
    }))
})
