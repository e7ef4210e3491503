/**
 * Durable runs end to end: real Postgres, the simulator over real HTTP, workflows on the cluster.
 * After every run the cache must equal the simulator's ground truth, row by row.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { Effect, Stream } from "effect"
import { SyncEngine } from "../src/SyncEngine.js"
import { StartRunRequest } from "../src/SyncRun.js"
import { awaitRun, cacheOf, ENTITIES, ORG, truthOf } from "./SyncFixture.js"
import * as SyncFixture from "./SyncFixture.js"

const expectCacheEqualsSource = Effect.gen(function*() {
  for (const entity of ENTITIES) {
    const cache = yield* cacheOf(entity)
    const truth = yield* truthOf(entity)
    expect(cache.map((r) => r.key), entity).toEqual(truth.map((r) => r.sys_id))
    expect(cache.map((r) => r.raw), entity).toEqual(truth)
  }
})

const run = (syncType: "full" | "delta" | "reconciliation", runId?: string) =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine
    const started = yield* engine.startRun(
      new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType, ...(runId ? { runId } : {}) })
    )
    return yield* awaitRun(started.runId)
  })

layer(SyncFixture.layer({ prefix: "runs" }), { excludeTestServices: true, timeout: "180 seconds" })("sync runs", (it) => {
  it.effect("a full sync makes every cache table equal the source, with one insert per row in the change log", () =>
    Effect.gen(function*() {
      const result = yield* run("full")
      expect(result.status).toBe("succeeded")
      expect(result.entityRuns.map((e) => [e.entity, e.status])).toEqual(
        [["sys_user", "succeeded"], ["sys_user_group", "succeeded"], ["cmdb_ci", "succeeded"],
          ["change_request", "succeeded"], ["em_event", "succeeded"], ["problem", "succeeded"],
          ["incident", "succeeded"]]
      )
      yield* expectCacheEqualsSource
      const sql = yield* SqlClient.SqlClient
      const changes = yield* sql<{ entity: string; op: string; n: number }>`
        SELECT entity, op, count(*)::int AS n FROM sync_changes WHERE run_id = ${result.runId}
        GROUP BY entity, op ORDER BY entity, op`
      for (const entity of ENTITIES) {
        const truth = yield* truthOf(entity)
        expect(changes.filter((c) => c.entity === entity), entity).toEqual([{ entity, op: "insert", n: truth.length }])
      }
      const incident = result.entityRuns.find((e) => e.entity === "incident")!
      expect(incident.records).toBe((yield* truthOf("incident")).length)
      expect(incident.pages).toBeGreaterThanOrEqual(9)
      // Later levels are planned ahead, once: each entity's high water is asked for once. Their first
      // pages are prefetched without looking for parents, whose level was not done: none is fetched by key.
      const requests = yield* (yield* ItsmSimulator.ItsmSimulator).requests()
      for (const entity of ENTITIES) {
        const highWater = requests.filter((r) => r.table === entity && r.query?.startsWith("ORDERBYDESC"))
        expect(highWater.length, entity).toBe(1)
      }
      expect(requests.filter((r) => r.query?.startsWith("sys_idIN")).map((r) => r.table)).toEqual([])
    }))

  it.effect("a delta after creates, updates, deletes and a 500-record tie across pages equals the source", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      yield* sim.advanceClock(600)
      yield* Effect.orDie(sim.mutate({ table: "incident", creates: 40, updates: 60, deletes: 15 }))
      yield* Effect.orDie(sim.mutate({ table: "incident", updates: 500, sameTimestamp: true }))
      yield* Effect.orDie(sim.mutate({ table: "cmdb_ci", creates: 5, updates: 10, deletes: 3 }))
      yield* Effect.orDie(sim.mutate({ table: "sys_user", updates: 20 }))
      yield* sim.advanceClock(5)
      const result = yield* run("delta")
      expect(result.status).toBe("succeeded")
      yield* expectCacheEqualsSource
      const incident = result.entityRuns.find((e) => e.entity === "incident")!
      expect(incident.deleted).toBe(15)
      // The delta reads what changed (plus the lookback), not the whole table.
      expect(incident.records).toBeLessThan(700)
    }))

  it.effect("the same start request twice with one run id is one run", () =>
    Effect.gen(function*() {
      const engine = yield* SyncEngine
      const request = new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "delta", runId: "delta-once" })
      const first = yield* engine.startRun(request)
      const second = yield* engine.startRun(request)
      expect(second.runId).toBe(first.runId)
      yield* awaitRun("delta-once")
      const third = yield* engine.startRun(request)
      expect(third.status).toBe("succeeded")
      const sql = yield* SqlClient.SqlClient
      const [count] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sync_runs WHERE run_id = 'delta-once'`
      expect(count!.n).toBe(1)
      const reused = yield* Effect.flip(
        engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full", runId: "delta-once" }))
      )
      expect(reused._tag).toBe("RunIdReusedError")
    }))

  it.effect("two runs never sync the same entity at once: the second is refused, clearly", () =>
    Effect.gen(function*() {
      const engine = yield* SyncEngine
      const first = yield* engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full" }))
      const refused = yield* Effect.flip(
        engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "delta", entities: ["em_event"] }))
      )
      expect(refused._tag).toBe("RunConflictError")
      expect(refused.message).toContain(first.runId)
      expect(refused.message).toContain("em_event")
      yield* awaitRun(first.runId)
    }))

  it.effect("watching a run streams its progress to the end", () =>
    Effect.gen(function*() {
      const engine = yield* SyncEngine
      const started = yield* engine.startRun(
        new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full", entities: ["em_event"] })
      )
      const events = yield* Stream.runCollect(engine.watchRun(started.runId))
      const tags = [...events].map((e) => e._tag)
      expect(tags.at(-1)).toBe("RunFinished")
      expect(tags).toContain("PageCommitted")
      expect([...events].filter((e) => e._tag === "EntityFinished").map((e) => e.entity).sort()).toEqual(
        ["cmdb_ci", "em_event"]
      )
    }))

  it.effect("reconciliation soft-deletes what the source lost without telling", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const sql = yield* SqlClient.SqlClient
      // A row the source never had, and deletions no delta has read from the audit feed.
      yield* run("delta")
      const phantom = "ffffffffffffffffffffffffffffffff"
      yield* sql.withTransaction(Effect.all([
        sql`CREATE TEMPORARY TABLE phantom ON COMMIT DROP AS
            SELECT * FROM cache_itsm_problem WHERE org_id = ${ORG} LIMIT 1`,
        sql`UPDATE phantom SET key = ${phantom}`,
        sql`INSERT INTO cache_itsm_problem SELECT * FROM phantom`
      ]))
      yield* sim.advanceClock(30)
      const removed = yield* Effect.orDie(sim.mutate({ table: "problem", deletes: 4 }))
      const result = yield* run("reconciliation")
      expect(result.status).toBe("succeeded")
      const deletedRows = yield* sql<{ key: string }>`
        SELECT key FROM cache_itsm_problem WHERE org_id = ${ORG} AND deleted_at IS NOT NULL`
      expect(deletedRows.map((r) => r.key).sort()).toEqual([...removed.deleted, phantom].sort())
      expect(result.entityRuns.find((e) => e.entity === "problem")!.deleted).toBe(5)
      yield* expectCacheEqualsSource
    }))
})
