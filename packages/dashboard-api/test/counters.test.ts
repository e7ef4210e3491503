/**
 * The overview's counters stay exact: after full syncs (parallel partitions of one entity updating
 * the same counter rows), after rounds of random creates, updates and deletes at the source applied
 * by delta runs, after a reconciliation and a full resync, every counter equals a fresh aggregate of
 * the cache's typed columns.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { ItsmSimulator, type SimulatorHandle } from "@tidemark/itsm-adapter/simulator"
import { Effect } from "effect"
import { SyncEngine, SyncRun } from "@tidemark/sync-engine"
import { DashboardCounters, DashboardMigrations } from "../src/index.js"
import { awaitRun, layer as stack, ORG, OTHER_ORG, OtherSimulator, sync } from "./DashboardFixture.js"
import { actualCounters, ENTITIES, expectedCounters } from "./Truth.js"

const expectCountersExact = (label: string) =>
  Effect.gen(function*() {
    const expected = yield* expectedCounters
    const actual = yield* actualCounters
    expect(actual, label).toEqual(expected)
    return expected.length
  })

/** A small seeded generator, so a failing round can be replayed. */
const random = (seed: number) => {
  let state = seed >>> 0
  return (below: number) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state % below
  }
}

const mutateRandomly = (sim: SimulatorHandle, next: (below: number) => number) =>
  Effect.gen(function*() {
    const tables = ["incident", "incident", "em_event", "change_request", "cmdb_ci", "problem"] as const
    for (let i = 0; i < 4; i++) {
      const table = tables[next(tables.length)]!
      yield* Effect.orDie(sim.mutate({
        table,
        creates: next(30),
        updates: next(80),
        deletes: next(8),
        sameTimestamp: next(3) === 0
      }))
      yield* sim.advanceClock(1 + next(300))
    }
    yield* sim.advanceClock(5)
  })

layer(stack({ prefix: "counters" }), { excludeTestServices: true, timeout: "400 seconds" })("dashboard counters", (it) => {
  it.effect("exact after full syncs of two orgs", () =>
    Effect.gen(function*() {
      expect((yield* sync(ORG, "full")).status).toBe("succeeded")
      expect((yield* sync(OTHER_ORG, "full")).status).toBe("succeeded")
      const counters = yield* expectCountersExact("after full syncs")
      expect(counters).toBeGreaterThan(40)
    }))

  it.effect("exact after rounds of random mutations and delta runs", () =>
    Effect.gen(function*() {
      const acme = yield* ItsmSimulator.ItsmSimulator
      const globex = yield* OtherSimulator
      const next = random(20260601)
      for (let round = 1; round <= 6; round++) {
        yield* mutateRandomly(acme, next)
        if (round % 2 === 0) yield* mutateRandomly(globex, next)
        const [a, b] = yield* Effect.all([sync(ORG, "delta"), sync(OTHER_ORG, "delta")], { concurrency: 2 })
        expect([a.status, b.status]).toEqual(["succeeded", "succeeded"])
        yield* expectCountersExact(`round ${round}`)
      }
      const sql = yield* SqlClient.SqlClient
      const [ops] = yield* sql<{ inserts: number; updates: number; deletes: number }>`
        SELECT count(*) FILTER (WHERE op = 'insert')::int AS inserts, count(*) FILTER (WHERE op = 'update')::int AS updates,
          count(*) FILTER (WHERE op = 'delete')::int AS deletes
        FROM sync_changes WHERE entity IN ('incident', 'change_request', 'em_event')`
      // The rounds exercised every kind of change the trigger handles.
      expect(ops!.updates).toBeGreaterThan(100)
      expect(ops!.deletes).toBeGreaterThan(5)
    }))

  it.effect("exact after a reconciliation, and after a full resync of a populated cache", () =>
    Effect.gen(function*() {
      const acme = yield* ItsmSimulator.ItsmSimulator
      yield* mutateRandomly(acme, random(7))
      expect((yield* sync(ORG, "reconciliation")).status).toBe("succeeded")
      yield* expectCountersExact("after reconciliation")
      yield* mutateRandomly(acme, random(8))
      expect((yield* sync(ORG, "full")).status).toBe("succeeded")
      yield* expectCountersExact("after full resync")
    }))

  it.effect("rebuilding from the cache gives back the counters the trigger kept", () =>
    Effect.gen(function*() {
      const kept = yield* actualCounters
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE dashboard_counters SET value = value + 1000`
      yield* DashboardCounters.rebuild
      expect(yield* actualCounters).toEqual(kept)
    }))

  it.effect("installed while syncs are writing, the counters start exact", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DROP TRIGGER dashboard_counters_from_changes ON sync_changes`
      yield* sql`DROP TABLE dashboard_counters`
      // All of them: the migrator only runs ids above the last one applied (the later ones are idempotent).
      yield* sql`DELETE FROM dashboard_migrations`
      // The second org's cache is emptied (no trigger yet, so nothing counts it): its full sync below
      // inserts every row again while the migration is installed.
      for (const entity of ENTITIES) yield* sql`DELETE FROM ${sql(`cache_itsm_${entity}`)} WHERE org_id = ${OTHER_ORG}`
      yield* mutateRandomly(yield* ItsmSimulator.ItsmSimulator, random(9))
      const engine = yield* SyncEngine.SyncEngine
      const runs = yield* Effect.all([
        engine.startRun(new SyncRun.StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full" })),
        engine.startRun(new SyncRun.StartRunRequest({ orgId: OTHER_ORG, adapter: "itsm", syncType: "full" }))
      ])
      // Let pages start landing, then install in the middle of them.
      yield* Effect.sleep("300 millis")
      const [landed] = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM cache_itsm_incident WHERE org_id = ${OTHER_ORG}`
      expect((yield* engine.getRun(runs[1]!.runId)).status).toBe("running")
      const applied = yield* DashboardMigrations.run
      expect(applied.map(([, name]) => name)).toEqual(
        Object.keys(DashboardMigrations.migrations).map((key) => key.replace(/^\d+_/, ""))
      )
      for (const run of runs) expect((yield* awaitRun(run.runId)).status).toBe("succeeded")
      yield* expectCountersExact("installed during syncs")
      const [total] = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM cache_itsm_incident WHERE org_id = ${OTHER_ORG}`
      // Some of the org's incidents landed before the install and some after.
      expect(landed!.n).toBeLessThan(total!.n)
    }))
})
