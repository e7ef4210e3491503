import { describe, expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import type { Adapter } from "@tidemark/adapter-core"
import { Chunk, Effect, Layer, Option, Redacted, Stream } from "effect"
import { inject } from "vitest"
import * as CacheTables from "../src/CacheTables.js"
import * as Database from "../src/Database.js"
import * as Migrations from "../src/Migrations.js"
import * as PageSink from "../src/PageSink.js"
import * as Reconciliation from "../src/Reconciliation.js"
import * as Watermarks from "../src/Watermarks.js"
import { ADAPTER, at, manifest, parent, parentRecord } from "./sink-manifest.js"

const adminUrl = Redacted.make(inject("adminDatabaseUrl"))

const TestDatabase = Layer.effectDiscard(Effect.zipRight(Migrations.run, CacheTables.ensure(ADAPTER, manifest))).pipe(
  Layer.provideMerge(Database.layerFresh(adminUrl, "reconcile"))
)

const store = (orgId: string, records: ReadonlyArray<Adapter.SourceRecord>) =>
  PageSink.upsert({ orgId, adapter: ADAPTER, runId: Option.some("seed"), entity: parent, records })

const keys = (entries: ReadonlyArray<readonly [string, number | undefined]>): Stream.Stream<Adapter.KeyAndCursor> =>
  Stream.fromIterable(entries.map(([key, second]) => ({ key, cursor: second === undefined ? undefined : at(second) })))

const scratchTables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE tablename LIKE 'sync_reconcile_%'`)

const deletedKeys = (orgId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ key: string }>`
      SELECT key FROM ${sql(CacheTables.tableName(ADAPTER, "parent"))}
      WHERE org_id = ${orgId} AND deleted_at IS NOT NULL ORDER BY key`).pipe(Effect.map((rows) => rows.map((row) => row.key)))

describe("Reconciliation", () => {
  layer(TestDatabase, { excludeTestServices: true })("against a cache", (it) => {
    it.effect("soft-deletes what the source lacks and returns what to fetch again", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const orgId = "org-rec"
        yield* store(orgId, [parentRecord("a", 1), parentRecord("b", 1), parentRecord("c", 1), parentRecord("d", 1)])
        yield* PageSink.applyDeletions({ orgId, adapter: ADAPTER, runId: "r0", entity: parent, deletions: [{ key: "d", deletedAt: at(2) }] })

        const refetched = yield* Effect.scoped(Effect.gen(function*() {
          const result = yield* Reconciliation.reconcile({
            orgId,
            adapter: ADAPTER,
            runId: "run-rec",
            entity: parent,
            // a: same; b: newer at the source; c: gone; d: back at the source; e: new. "a" twice.
            keys: keys([["a", 1], ["b", 7], ["d", 1], ["e", 3], ["a", 1]]),
            chunkSize: 2
          })
          expect({ ...result, refetch: undefined }).toEqual({ sourceKeys: 4, deleted: 1, toRefetch: 3, refetch: undefined })
          expect((yield* scratchTables).length).toBe(1)
          return yield* Stream.runCollect(result.refetch(2))
        }))
        expect(Chunk.toReadonlyArray(refetched)).toEqual([["b", "d"], ["e"]])
        expect(yield* scratchTables).toEqual([])
        expect(yield* deletedKeys(orgId)).toEqual(["c", "d"])
        const changes = yield* sql<{ key: string; op: string; previous: unknown; run_id: string }>`
          SELECT key, op, previous, run_id FROM sync_changes WHERE org_id = ${orgId} AND op = 'delete' ORDER BY id`
        expect(changes).toEqual([
          { key: "d", op: "delete", previous: parentRecord("d", 1).raw, run_id: "r0" },
          { key: "c", op: "delete", previous: parentRecord("c", 1).raw, run_id: "run-rec" }
        ])
      }))

    it.effect("deletes nothing when the key stream fails", () =>
      Effect.gen(function*() {
        const orgId = "org-rec-fail"
        yield* store(orgId, [parentRecord("a", 1), parentRecord("b", 1)])
        const failing = Stream.concat(keys([["a", 1]]), Stream.fail("source went away" as const))
        const error = yield* Effect.flip(Effect.scoped(Reconciliation.reconcile({
          orgId, adapter: ADAPTER, runId: "run-fail", entity: parent, keys: failing
        })))
        expect(error).toBe("source went away")
        expect(yield* deletedKeys(orgId)).toEqual([])
        expect(yield* scratchTables).toEqual([])
      }))

    it.effect("keeps a row written while the keys were being listed", () =>
      Effect.gen(function*() {
        const orgId = "org-rec-race"
        yield* store(orgId, [parentRecord("a", 1), parentRecord("old", 1)])
        // A webhook stores "late" after the listing has passed its place in key order.
        const listing = keys([["a", 1]]).pipe(Stream.tap(() => store(orgId, [parentRecord("late", 5)])))
        const result = yield* Effect.scoped(Reconciliation.reconcile({ orgId, adapter: ADAPTER, runId: "run-race", entity: parent, keys: listing }))
        expect(result.deleted).toBe(1)
        expect(yield* deletedKeys(orgId)).toEqual(["old"])
      }))

    it.effect("handles many keys in chunks, with no cursor at the source", () =>
      Effect.gen(function*() {
        const orgId = "org-rec-many"
        const n = 25_000
        const name = (i: number) => `k${String(i).padStart(6, "0")}`
        yield* store(orgId, Array.from({ length: 1000 }, (_, i) => parentRecord(name(i * 2), 1)))
        const listing = Stream.range(0, n - 1).pipe(Stream.map((i) => ({ key: name(i), cursor: i % 2 === 0 && i < 2000 ? at(1) : undefined })))
        const result = yield* Effect.scoped(Effect.gen(function*() {
          const result = yield* Reconciliation.reconcile({ orgId, adapter: ADAPTER, runId: "run-many", entity: parent, keys: listing })
          const total = yield* Stream.runFold(result.refetch(5_000), 0, (sum, chunk) => sum + chunk.length)
          return { ...result, total }
        }))
        // The 1,000 cached keys match; the other 24,000 are new.
        expect(result).toMatchObject({ sourceKeys: n, deleted: 0, toRefetch: n - 1000, total: n - 1000 })
      }))
  })
})

describe("Watermarks", () => {
  layer(TestDatabase, { excludeTestServices: true })("state per entity", (it) => {
    it.effect("get, set after full and reconciliation, clear in-flight", () =>
      Effect.gen(function*() {
        const orgId = "org-wm"
        expect(yield* Watermarks.get(orgId, ADAPTER, "parent")).toEqual(Option.none())
        yield* PageSink.write({
          orgId, adapter: ADAPTER, runId: "run-wm", entity: parent, pageNo: 1, records: [parentRecord("p1", 9)], invalid: [],
          from: Option.none(), to: Option.some({ cursor: at(9), key: "p1" }), node: "n", advanceWatermark: true
        })
        const inflight = Option.getOrThrow(yield* Watermarks.get(orgId, ADAPTER, "parent"))
        expect(inflight).toMatchObject({
          watermark: Option.some(at(9)),
          inflight: Option.some({ runId: "run-wm", position: Option.some({ cursor: at(9), key: "p1" }) }),
          lastFullAt: Option.none(),
          lastReconciliationAt: Option.none()
        })
        // A full sync sets the watermark exactly, even earlier than before.
        yield* Watermarks.setAfterFull(orgId, ADAPTER, "parent", Option.some(at(4)))
        const full = Option.getOrThrow(yield* Watermarks.get(orgId, ADAPTER, "parent"))
        expect(full.watermark).toEqual(Option.some(at(4)))
        expect(full.inflight).toEqual(Option.none())
        expect(Option.isSome(full.lastFullAt)).toBe(true)

        yield* Watermarks.setAfterReconciliation(orgId, ADAPTER, "parent")
        const reconciled = Option.getOrThrow(yield* Watermarks.get(orgId, ADAPTER, "parent"))
        expect(reconciled.watermark).toEqual(Option.some(at(4)))
        expect(Option.isSome(reconciled.lastReconciliationAt)).toBe(true)

        yield* PageSink.write({
          orgId, adapter: ADAPTER, runId: "run-wm2", entity: parent, pageNo: 1, records: [parentRecord("p2", 12)], invalid: [],
          from: Option.none(), to: Option.some({ cursor: at(12), key: "p2" }), node: "n", advanceWatermark: false
        })
        yield* Watermarks.clearInflight(orgId, ADAPTER, "parent")
        const cleared = Option.getOrThrow(yield* Watermarks.get(orgId, ADAPTER, "parent"))
        expect(cleared.inflight).toEqual(Option.none())
        expect(cleared.watermark).toEqual(Option.some(at(4)))
      }))
  })
})
