import { describe, expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { type Adapter, SourceError } from "@tidemark/adapter-core"
import { Effect, Layer, Option, Redacted } from "effect"
import { inject } from "vitest"
import * as CacheTables from "../src/CacheTables.js"
import * as Database from "../src/Database.js"
import * as Migrations from "../src/Migrations.js"
import { upsertInto } from "../src/internal/cacheUpsert.js"
import * as ServerFeatures from "../src/internal/serverFeatures.js"
import * as PageSink from "../src/PageSink.js"
import { ADAPTER, at, child, childRecord, manifest, parent, parentRecord } from "./sink-manifest.js"

const adminUrl = Redacted.make(inject("adminDatabaseUrl"))

const TestDatabase = Layer.effectDiscard(Effect.zipRight(Migrations.run, CacheTables.ensure(ADAPTER, manifest))).pipe(
  Layer.provideMerge(Database.layerFresh(adminUrl, "pagesink"))
)

const parentTable = CacheTables.tableName(ADAPTER, "parent")
const childTable = CacheTables.tableName(ADAPTER, "child")

const position = (record: Adapter.SourceRecord): Adapter.Position => ({ cursor: record.cursor!, key: record.key })

/** A page of `parent` records for org `orgId`, run `run-<orgId>`: the defaults of a full sync's page. */
const page = (orgId: string, pageNo: number, records: ReadonlyArray<Adapter.SourceRecord>, more: Partial<PageSink.WriteInput> = {}) =>
  PageSink.write({
    orgId,
    adapter: ADAPTER,
    runId: `run-${orgId}`,
    entity: parent,
    pageNo,
    records,
    invalid: [],
    from: Option.none(),
    to: records.length === 0 ? Option.none() : Option.some(position(records[records.length - 1]!)),
    node: "node-a",
    advanceWatermark: false,
    ...more
  })

const changesOf = (orgId: string, entity = "parent") =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ key: string; op: string; previous: unknown; current: unknown; run_id: string | null }>`
      SELECT key, op, previous, current, run_id FROM sync_changes
      WHERE org_id = ${orgId} AND entity = ${entity} ORDER BY id`)

const cacheRow = (orgId: string, key: string, table = parentTable) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<Record<string, unknown>>`SELECT * FROM ${sql(table)} WHERE org_id = ${orgId} AND key = ${key}`).pipe(
    Effect.map((rows) => rows[0])
  )

describe("PageSink", () => {
  layer(TestDatabase, { excludeTestServices: true })("on a migrated database", (it) => {
    it.effect("inserts a page; an identical re-delivery is unchanged and logs nothing", () =>
      Effect.gen(function*() {
        const records = [parentRecord("p1", 1), parentRecord("p2", 2), parentRecord("p3", 3)]
        const first = yield* page("org-insert", 1, records)
        expect(first).toMatchObject({ records: 3, inserted: 3, updated: 0, unchanged: 0, deadLetters: 0, attempts: 1 })
        const again = yield* page("org-insert", 2, records)
        expect(again).toMatchObject({ records: 3, inserted: 0, updated: 0, unchanged: 3 })
        const changes = yield* changesOf("org-insert")
        expect(changes.map((change) => [change.key, change.op, change.previous])).toEqual([
          ["p1", "insert", null],
          ["p2", "insert", null],
          ["p3", "insert", null]
        ])
        expect(changes[0]!.current).toEqual(records[0]!.raw)
        expect(changes[0]!.run_id).toBe("run-org-insert")
      }))

    it.effect("an update logs the previous and the new raw record", () =>
      Effect.gen(function*() {
        const v1 = parentRecord("p1", 1, { name: "before" })
        const v2 = parentRecord("p1", 5, { name: "after", size: 7 })
        yield* page("org-update", 1, [v1])
        const counts = yield* page("org-update", 2, [v2])
        expect(counts).toMatchObject({ inserted: 0, updated: 1, unchanged: 0 })
        const changes = yield* changesOf("org-update")
        expect(changes.map((change) => change.op)).toEqual(["insert", "update"])
        expect(changes[1]!.previous).toEqual(v1.raw)
        expect(changes[1]!.current).toEqual(v2.raw)
        const row = yield* cacheRow("org-update", "p1")
        expect(row).toMatchObject({ name: "after", size: "7", raw: v2.raw, source_updated_at: at(5), deleted_at: null })
      }))

    it.effect("an older version never overwrites a newer one", () =>
      Effect.gen(function*() {
        const newer = parentRecord("p1", 10, { name: "newer" })
        yield* page("org-stale", 1, [newer])
        const stale = yield* page("org-stale", 2, [parentRecord("p1", 4, { name: "older" })])
        expect(stale).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 })
        expect(yield* cacheRow("org-stale", "p1")).toMatchObject({ name: "newer", source_updated_at: at(10) })
        // Same cursor, different body: the source changed the record within one second; take it.
        const sameSecond = yield* page("org-stale", 3, [parentRecord("p1", 10, { name: "same second" })])
        expect(sameSecond).toMatchObject({ updated: 1 })
        expect((yield* changesOf("org-stale")).map((change) => change.op)).toEqual(["insert", "update"])
      }))

    it.effect("keeps the latest version of a key delivered twice in one page", () =>
      Effect.gen(function*() {
        const counts = yield* page("org-dupes", 1, [
          parentRecord("p1", 1, { name: "v1" }),
          parentRecord("p1", 3, { name: "v3" }),
          parentRecord("p1", 2, { name: "v2" }),
          parentRecord("p2", 1)
        ])
        expect(counts).toMatchObject({ records: 4, inserted: 2, updated: 0, unchanged: 2 })
        expect(yield* cacheRow("org-dupes", "p1")).toMatchObject({ name: "v3", source_updated_at: at(3) })
      }))

    it.effect("stores invalid records as dead letters with their raw body", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const invalid = [
          new SourceError.InvalidRecord({ entity: "parent", key: "bad1", reason: "size: expected an integer", raw: { id: "bad1", size: "x" } }),
          new SourceError.InvalidRecord({ entity: "parent", key: null, reason: "no id", raw: { name: "nul\u0000 inside" } })
        ]
        const counts = yield* page("org-dead", 4, [parentRecord("p1", 1)], { invalid })
        expect(counts).toMatchObject({ records: 1, inserted: 1, deadLetters: 2 })
        const rows = yield* sql<{ key: string | null; reason: string; raw: unknown; run_id: string; page_no: number }>`
          SELECT key, reason, raw, run_id, page_no FROM sync_dead_letters WHERE org_id = 'org-dead' ORDER BY id`
        expect(rows).toEqual([
          { key: "bad1", reason: "size: expected an integer", raw: { id: "bad1", size: "x" }, run_id: "run-org-dead", page_no: 4 },
          // Postgres refuses NUL in jsonb: it is kept as U+FFFD rather than losing the record.
          { key: null, reason: "no id", raw: { name: "nul\uFFFD inside" }, run_id: "run-org-dead", page_no: 4 }
        ])
      }))

    it.effect("records the page and the in-flight cursor; a delta moves the watermark up, never down", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const first = [parentRecord("p1", 10), parentRecord("p2", 20)]
        yield* page("org-cursor", 1, first, { from: Option.some({ cursor: at(5), key: "p0" }) })
        const [pageRow] = yield* sql<Record<string, unknown>>`
          SELECT records, inserted, updated, unchanged, dead_letters, cursor_from, key_from, cursor_to, key_to, node, attempts
          FROM sync_pages WHERE run_id = 'run-org-cursor' AND entity = 'parent' AND page_no = 1`
        expect(pageRow).toEqual({
          records: 2, inserted: 2, updated: 0, unchanged: 0, dead_letters: 0,
          cursor_from: at(5), key_from: "p0", cursor_to: at(20), key_to: "p2", node: "node-a", attempts: 1
        })
        const mark = () =>
          sql<{ watermark: Date | null; inflight_run_id: string; inflight_cursor: Date; inflight_key: string }>`
            SELECT watermark, inflight_run_id, inflight_cursor, inflight_key FROM sync_watermarks
            WHERE org_id = 'org-cursor' AND adapter = ${ADAPTER} AND entity = 'parent'`.pipe(Effect.map((rows) => rows[0]))
        expect(yield* mark()).toEqual({ watermark: null, inflight_run_id: "run-org-cursor", inflight_cursor: at(20), inflight_key: "p2" })

        yield* page("org-cursor", 2, [parentRecord("p3", 30)], { advanceWatermark: true })
        expect(yield* mark()).toMatchObject({ watermark: at(30), inflight_cursor: at(30), inflight_key: "p3" })
        // A lookback page reaching behind the watermark moves the in-flight cursor, not the watermark.
        yield* page("org-cursor", 3, [parentRecord("p4", 25)], { advanceWatermark: true })
        expect(yield* mark()).toMatchObject({ watermark: at(30), inflight_cursor: at(25), inflight_key: "p4" })
      }))

    it.effect("committing a page again (an activity re-run) changes nothing", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const records = [parentRecord("p1", 1), parentRecord("p2", 2), parentRecord("p1", 3)]
        const invalid = [new SourceError.InvalidRecord({ entity: "parent", key: "bad", reason: "broken", raw: { id: "bad" } })]
        const first = yield* page("org-rerun", 1, records, { invalid })
        const second = yield* page("org-rerun", 1, records, { invalid })
        expect(first).toEqual({ records: 3, inserted: 2, updated: 0, unchanged: 1, deadLetters: 1, attempts: 1 })
        expect(second).toEqual({ ...first, attempts: 2 })
        expect((yield* changesOf("org-rerun")).length).toBe(2)
        const [counts] = yield* sql<{ pages: number; dead: number }>`
          SELECT (SELECT count(*) FROM sync_pages WHERE run_id = 'run-org-rerun')::int AS pages,
                 (SELECT count(*) FROM sync_dead_letters WHERE run_id = 'run-org-rerun')::int AS dead`
        expect(counts).toEqual({ pages: 1, dead: 1 })
      }))

    it.effect("typed columns hold the row's values", () =>
      Effect.gen(function*() {
        yield* page("org-typed", 1, [
          parentRecord("p1", 1, { name: "quote \" and \\ backslash, {braces}", size: -9007199254740991, ratio: 1.25, active: false, tags: ["x"] }),
          parentRecord("p2", 2, { size: null, ratio: null, active: null, opened_at: null, tags: [] })
        ])
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<Record<string, unknown>>`
          SELECT key, name, size, ratio, active, opened_at, updated_at, tags, source_updated_at, deleted_at,
            pg_typeof(size)::text AS size_type, pg_typeof(tags)::text AS tags_type
          FROM ${sql(parentTable)} WHERE org_id = 'org-typed' ORDER BY key`
        expect(rows).toEqual([
          {
            key: "p1", name: "quote \" and \\ backslash, {braces}", size: "-9007199254740991", ratio: 1.25, active: false,
            opened_at: at(0), updated_at: at(1), tags: ["x"], source_updated_at: at(1), deleted_at: null,
            size_type: "bigint", tags_type: "jsonb"
          },
          {
            key: "p2", name: "parent p2", size: null, ratio: null, active: null, opened_at: null, updated_at: at(2),
            tags: [], source_updated_at: at(2), deleted_at: null, size_type: "bigint", tags_type: "jsonb"
          }
        ])
      }))

    it.effect("applyDeletions soft-deletes with a change-log row, but not a record re-created after the deletion", () =>
      Effect.gen(function*() {
        yield* page("org-delete", 1, [parentRecord("p1", 1), parentRecord("p2", 5)])
        const deletions = [{ key: "p1", deletedAt: at(3) }, { key: "p2", deletedAt: at(3) }, { key: "nope", deletedAt: at(3) }]
        const input = { orgId: "org-delete", adapter: ADAPTER, runId: "run-org-delete", entity: parent, deletions }
        expect(yield* PageSink.applyDeletions(input)).toBe(1)
        expect(yield* cacheRow("org-delete", "p1")).toMatchObject({ deleted_at: at(3) })
        expect(yield* cacheRow("org-delete", "p2")).toMatchObject({ deleted_at: null })
        expect(yield* PageSink.applyDeletions(input)).toBe(0)
        const changes = yield* changesOf("org-delete")
        expect(changes.slice(2).map((change) => [change.key, change.op, change.current])).toEqual([["p1", "delete", null]])
        expect(changes[2]!.previous).toEqual(parentRecord("p1", 1).raw)

        // The record comes back at the source, newer than its deletion: revived, logged as an insert.
        const revived = yield* page("org-delete", 2, [parentRecord("p1", 4)])
        expect(revived).toMatchObject({ inserted: 1, updated: 0 })
        expect(yield* cacheRow("org-delete", "p1")).toMatchObject({ deleted_at: null, source_updated_at: at(4) })
        expect((yield* changesOf("org-delete")).at(-1)).toMatchObject({ key: "p1", op: "insert", previous: null })
      }))

    it.effect("both ways of reading the replaced values (PostgreSQL 18's RETURNING old, a lookup before it) log the same changes", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // This server is 18 or newer, so the sink itself takes the first way; the second is forced here.
        expect(yield* ServerFeatures.previousValues(sql)).toBe("returning")
        const table = CacheTables.describe(ADAPTER, parent)
        const logged: Record<string, unknown> = {}
        for (const previousValues of ["returning", "lookup"] as const) {
          const orgId = `org-previous-${previousValues}`
          const target = { orgId, adapter: ADAPTER, runId: `run-${orgId}`, table, previousValues }
          const steps = [
            [parentRecord("p1", 1), parentRecord("p2", 1)], // two inserts
            [parentRecord("p1", 2), parentRecord("p2", 1), parentRecord("p3", 0)], // an update, a re-delivery, an insert
            [parentRecord("p1", 1, { name: "older" })] // an older version: nothing
          ]
          const counts = []
          for (const records of steps) counts.push(yield* upsertInto(sql, target, records))
          yield* sql`UPDATE ${sql(parentTable)} SET deleted_at = ${at(3)} WHERE org_id = ${orgId} AND key = 'p2'`
          counts.push(yield* upsertInto(sql, target, [parentRecord("p2", 4)])) // revived: an insert
          expect(counts, previousValues).toEqual([
            { inserted: 2, updated: 0 },
            { inserted: 1, updated: 1 },
            { inserted: 0, updated: 0 },
            { inserted: 1, updated: 0 }
          ])
          const changes = yield* changesOf(orgId)
          expect(changes.map((change) => [change.key, change.op]), previousValues).toEqual([
            ["p1", "insert"], ["p2", "insert"], ["p1", "update"], ["p3", "insert"], ["p2", "insert"]
          ])
          expect(changes[2]!.previous, previousValues).toEqual(parentRecord("p1", 1).raw)
          expect(changes[4]!.previous, previousValues).toBeNull()
          logged[previousValues] = changes.map(({ current, key, op, previous }) => ({ current, key, op, previous }))
        }
        expect(logged.lookup).toEqual(logged.returning)
      }))

    it.effect("missing hard parents: listed, fetched ones stored first, the ones the source lacks recorded", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const orgId = "org-parents"
        yield* page(orgId, 1, [parentRecord("p1", 1), parentRecord("p2", 1)])
        yield* PageSink.applyDeletions({ orgId, adapter: ADAPTER, runId: "r", entity: parent, deletions: [{ key: "p2", deletedAt: at(2) }] })
        const children = [
          childRecord("c1", 1, { parent_id: "p1", buddy_id: "p9" }),
          childRecord("c2", 1, { parent_id: "p2" }),
          childRecord("c3", 1, { parent_id: "p3" }),
          childRecord("c4", 1, { parent_id: "p3" }),
          childRecord("c5", 1, { parent_id: null })
        ]
        const missing = yield* PageSink.missingHardParents({ orgId, adapter: ADAPTER, manifest, entity: child, records: children })
        // The soft reference to p9 never blocks; p2 is soft-deleted, p3 absent.
        expect(missing).toEqual([{ field: "parent_id", parentEntity: "parent", keys: ["p2", "p3"] }])

        // The adapter found p2 (re-created) but not p3.
        const counts = yield* PageSink.write({
          orgId,
          adapter: ADAPTER,
          runId: "run-children",
          entity: child,
          pageNo: 1,
          records: children,
          invalid: [],
          from: Option.none(),
          to: Option.some({ cursor: at(1), key: "c5" }),
          node: "node-a",
          advanceWatermark: false,
          parents: [{ entity: parent, records: [parentRecord("p2", 6)] }],
          missingParents: [{ parentEntity: "parent", keys: ["p3"] }]
        })
        expect(counts).toMatchObject({ inserted: 5 })
        expect(yield* cacheRow(orgId, "p2")).toMatchObject({ deleted_at: null, source_updated_at: at(6) })
        expect(yield* cacheRow(orgId, "c1", childTable)).toMatchObject({ parent_id: "p1", buddy_id: "p9", priority: "3" })
        const recorded = () =>
          sql<Record<string, unknown>>`
            SELECT key, field, parent_entity, parent_key, run_id FROM sync_missing_parents
            WHERE org_id = ${orgId} ORDER BY key`
        expect(yield* recorded()).toEqual([
          { key: "c3", field: "parent_id", parent_entity: "parent", parent_key: "p3", run_id: "run-children" },
          { key: "c4", field: "parent_id", parent_entity: "parent", parent_key: "p3", run_id: "run-children" }
        ])
        expect(yield* PageSink.missingHardParents({ orgId, adapter: ADAPTER, manifest, entity: child, records: children }))
          .toEqual([{ field: "parent_id", parentEntity: "parent", keys: ["p3"] }])

        // c3 now points at a parent that exists: its missing-parent row goes away.
        yield* PageSink.write({
          orgId, adapter: ADAPTER, runId: "run-children", entity: child, pageNo: 2,
          records: [childRecord("c3", 2, { parent_id: "p1" })], invalid: [], from: Option.none(), to: Option.none(),
          node: "node-a", advanceWatermark: false
        })
        expect((yield* recorded()).map((row) => row.key)).toEqual(["c4"])
      }))

    it.effect("upsert outside a run (a webhook) goes through the same guard and change log", () =>
      Effect.gen(function*() {
        const input = { orgId: "org-hook", adapter: ADAPTER, runId: Option.none(), entity: parent }
        expect(yield* PageSink.upsert({ ...input, records: [parentRecord("p1", 2)] })).toEqual({ inserted: 1, updated: 0 })
        expect(yield* PageSink.upsert({ ...input, records: [parentRecord("p1", 1)] })).toEqual({ inserted: 0, updated: 0 })
        const changes = yield* changesOf("org-hook")
        expect(changes.map((change) => [change.op, change.run_id])).toEqual([["insert", null]])
      }))

    it.effect("writes a page of 5,000 rows, then updates all of them", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const big = (second: number) =>
          Array.from({ length: 5000 }, (_, i) => parentRecord(`k${String(i).padStart(5, "0")}`, second, { size: i }))
        const inserted = yield* page("org-big", 1, big(1))
        expect(inserted).toMatchObject({ records: 5000, inserted: 5000 })
        const updated = yield* page("org-big", 2, big(2))
        expect(updated).toMatchObject({ records: 5000, updated: 5000 })
        const [row] = yield* sql<{ rows: number; sizes: string; changes: number }>`
          SELECT (SELECT count(*) FROM ${sql(parentTable)} WHERE org_id = 'org-big')::int AS rows,
                 (SELECT sum(size) FROM ${sql(parentTable)} WHERE org_id = 'org-big')::text AS sizes,
                 (SELECT count(*) FROM sync_changes WHERE org_id = 'org-big')::int AS changes`
        expect(row).toEqual({ rows: 5000, sizes: String((4999 * 5000) / 2), changes: 10000 })
      }))

    it.effect("a missing cache table is a PageSinkError that names the table", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(page("org-x", 1, [parentRecord("p1", 1)], { adapter: "nosuch" }))
        expect(error._tag).toBe("PageSinkError")
        expect(error.message).toContain("cache_nosuch_parent")
        expect(error).toMatchObject({ entity: "parent", pageNo: 1, runId: "run-org-x" })
      }))
  })
})
