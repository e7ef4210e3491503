import { describe, expect, it, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import * as Database from "../src/Database.js"
import * as Migrations from "../src/Migrations.js"

const adminUrl = Redacted.make(inject("adminDatabaseUrl"))

const tables = [
  "sync_runs",
  "sync_entity_runs",
  "sync_pages",
  "sync_watermarks",
  "sync_dead_letters",
  "sync_changes",
  "sync_missing_parents",
  "sync_schedule_ticks"
]
const views = ["sync_latest_entity_runs", "sync_failed_runs", "sync_throughput_daily"]

describe("Migrations", () => {
  layer(Database.layerFresh(adminUrl, "migrations"), { excludeTestServices: true })("on a fresh database", (it) => {
    it.effect("creates the tables and views; running again applies nothing", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const applied = yield* Migrations.run
        expect(applied.map(([id]) => id)).toEqual([1, 2, 3, 4, 5])
        const found = yield* sql<{ name: string; kind: string }>`
          SELECT table_name AS name, table_type AS kind FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_name LIKE 'sync\\_%' ORDER BY table_name`
        expect(found.filter((row) => row.kind === "BASE TABLE").map((row) => row.name).sort()).toEqual([...tables].sort())
        expect(found.filter((row) => row.kind === "VIEW").map((row) => row.name).sort()).toEqual([...views].sort())
        expect(yield* Migrations.run).toEqual([])
        const [count] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(Migrations.migrationsTable)}`
        expect(count!.n).toBe(5)
      }))

    it.effect("the views answer the common questions", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* Migrations.run
        yield* sql`INSERT INTO sync_runs (run_id, org_id, adapter, sync_type, status, requested_at, started_at, finished_at, error)
          VALUES ('r1', 'acme', 'itsm', 'full', 'succeeded', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:10:00Z', NULL),
                 ('r2', 'acme', 'itsm', 'delta', 'partial', '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z', '2026-01-02T00:01:00Z', 'one entity failed')`
        yield* sql`INSERT INTO sync_entity_runs (run_id, entity, level, status, records, inserted, started_at, finished_at, error, reason)
          VALUES ('r1', 'incident', 2, 'succeeded', 100, 100, '2026-01-01T00:00:00Z', '2026-01-01T00:05:00Z', NULL, NULL),
                 ('r1', 'cmdb_ci', 1, 'succeeded', 10, 10, '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z', NULL, NULL),
                 ('r2', 'cmdb_ci', 1, 'failed', 0, 0, '2026-01-02T00:00:00Z', '2026-01-02T00:00:30Z', 'HTTP 500', NULL),
                 ('r2', 'incident', 2, 'skipped', 0, 0, NULL, NULL, NULL, 'hard parent cmdb_ci failed')`
        yield* sql`INSERT INTO sync_pages (run_id, entity, page_no, org_id, adapter, records, inserted, duration_ms, committed_at)
          VALUES ('r1', 'incident', 1, 'acme', 'itsm', 60, 60, 100, '2026-01-01T00:01:00Z'),
                 ('r1', 'incident', 2, 'acme', 'itsm', 40, 40, 100, '2026-01-01T00:02:00Z')`

        const latest = yield* sql<{ entity: string; run_id: string; status: string; duration_s: number | null }>`
          SELECT entity, run_id, status, duration_s FROM sync_latest_entity_runs WHERE org_id = 'acme' ORDER BY entity`
        expect(latest).toEqual([
          { entity: "cmdb_ci", run_id: "r2", status: "failed", duration_s: 30 },
          { entity: "incident", run_id: "r2", status: "skipped", duration_s: null }
        ])
        const failed = yield* sql<{ run_id: string; entity: string; entity_status: string; entity_error: string | null; entity_reason: string | null }>`
          SELECT run_id, entity, entity_status, entity_error, entity_reason FROM sync_failed_runs ORDER BY entity`
        expect(failed).toEqual([
          { run_id: "r2", entity: "cmdb_ci", entity_status: "failed", entity_error: "HTTP 500", entity_reason: null },
          { run_id: "r2", entity: "incident", entity_status: "skipped", entity_error: null, entity_reason: "hard parent cmdb_ci failed" }
        ])
        const throughput = yield* sql<{ entity: string; pages: string; records: string; records_per_s: number }>`
          SELECT entity, pages::text, records::text, records_per_s FROM sync_throughput_daily`
        expect(throughput).toEqual([{ entity: "incident", pages: "2", records: "100", records_per_s: 500 }])
      }))
  })

  it.effect("runs from several processes at once without failing", () =>
    Effect.scoped(Effect.gen(function*() {
      const db = yield* Database.freshDatabase(adminUrl, "migrations_concurrent")
      // Separate pools stand in for separate processes: each runs on its own connections.
      const process = () => Layer.fresh(Database.layerFromUrl(db.url, 2))
      const results = yield* Effect.all(
        Array.from({ length: 4 }, () => Effect.provide(Migrations.run, process())),
        { concurrency: "unbounded" }
      )
      expect(results.map((applied) => applied.length).sort()).toEqual([0, 0, 0, 5])
      const count = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM tidemark_migrations`),
        process()
      )
      expect(count[0]!.n).toBe(5)
    })))
})
