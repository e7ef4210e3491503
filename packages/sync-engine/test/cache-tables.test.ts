import { describe, expect, it, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { EntityDefinition, Manifest, Reference } from "@tidemark/adapter-core"
import { Effect, Either, Option, Redacted, Schema } from "effect"
import { inject } from "vitest"
import * as CacheTables from "../src/CacheTables.js"
import * as Database from "../src/Database.js"
import { ADAPTER, child, manifest, parent, ParentRow } from "./sink-manifest.js"

const adminUrl = Redacted.make(inject("adminDatabaseUrl"))

const Odd = Schema.Struct({
  sys_id: Schema.String,
  raw: Schema.String,
  key: Schema.NullOr(Schema.String),
  count: Schema.NonNegativeInt,
  big: Schema.BigIntFromSelf,
  state: Schema.Literal("open", "closed"),
  when: Schema.optional(Schema.Date),
  meta: Schema.Struct({ a: Schema.Number }),
  owner: Schema.NullOr(Schema.String).pipe(Reference.softRef("parent"))
})

const odd = EntityDefinition.make({
  name: "Odd-Entity",
  endpoint: "/odd",
  apiSchema: Odd,
  rowSchema: Odd,
  transform: Either.right,
  key: "sys_id",
  deletions: { auditFeed: false, reconciliation: true }
})

const columnsOf = (table: CacheTables.CacheTable) =>
  table.columns.map((column) => [column.name, column.sqlType, column.nullable, Option.getOrNull(column.reference)?.kind ?? null])

describe("CacheTables", () => {
  it("names tables cache_<adapter>_<entity>, safely and within 63 bytes", () => {
    expect(CacheTables.tableName("itsm", "incident")).toBe("cache_itsm_incident")
    expect(CacheTables.tableName("My-CRM", "Odd.Entity")).toBe("cache_my_crm_odd_entity")
    const long = CacheTables.tableName("adapter", "x".repeat(80))
    expect(long.length).toBeLessThanOrEqual(63)
    expect(long).not.toBe(CacheTables.tableName("adapter", "x".repeat(81)))
  })

  it("derives typed columns from the row schema", () => {
    expect(columnsOf(CacheTables.describe(ADAPTER, parent))).toEqual([
      ["name", "text", false, null],
      ["size", "bigint", true, null],
      ["ratio", "double precision", true, null],
      ["active", "boolean", true, null],
      ["opened_at", "timestamptz", true, null],
      ["updated_at", "timestamptz", false, null],
      ["tags", "jsonb", false, null]
    ])
    expect(columnsOf(CacheTables.describe(ADAPTER, child))).toEqual([
      ["title", "text", false, null],
      ["parent_id", "text", true, "hard"],
      ["buddy_id", "text", true, "soft"],
      ["priority", "bigint", true, null],
      ["updated_at", "timestamptz", false, null]
    ])
    // The key field is the `key` column; fields named like the engine's columns get a prefix.
    expect(columnsOf(CacheTables.describe(ADAPTER, odd))).toEqual([
      ["field_raw", "text", false, null],
      ["field_key", "text", true, null],
      ["count", "bigint", false, null],
      ["big", "numeric", false, null],
      ["state", "text", false, null],
      ["when", "timestamptz", true, null],
      ["meta", "jsonb", false, null],
      ["owner", "text", true, "soft"]
    ])
  })

  layer(Database.layerFresh(adminUrl, "cachetables"), { excludeTestServices: true })("on a database", (it) => {
    const columnsInDb = (table: string) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ column_name: string; data_type: string; is_nullable: string }>`
          SELECT column_name, data_type, is_nullable FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = ${table} ORDER BY ordinal_position`)

    it.effect("creates one table per entity with typed columns, engine columns and indexes", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const tables = yield* CacheTables.ensure(ADAPTER, manifest)
        expect([...tables.keys()]).toEqual(["parent", "child"])
        const columns = yield* columnsInDb("cache_testsrc_child")
        expect(columns.map((c) => [c.column_name, c.data_type, c.is_nullable])).toEqual([
          ["org_id", "text", "NO"],
          ["key", "text", "NO"],
          ["title", "text", "NO"],
          ["parent_id", "text", "YES"],
          ["buddy_id", "text", "YES"],
          ["priority", "bigint", "YES"],
          ["updated_at", "timestamp with time zone", "NO"],
          ["raw", "jsonb", "NO"],
          ["source_updated_at", "timestamp with time zone", "YES"],
          ["synced_at", "timestamp with time zone", "NO"],
          ["deleted_at", "timestamp with time zone", "YES"]
        ])
        const indexes = yield* sql<{ indexdef: string }>`
          SELECT indexdef FROM pg_indexes WHERE tablename = 'cache_testsrc_child' ORDER BY indexname`
        expect(indexes.map((index) => index.indexdef.replace(/.* USING btree /, ""))).toEqual([
          "(org_id, buddy_id)",
          "(org_id, source_updated_at)",
          "(org_id, parent_id)",
          "(org_id, key)"
        ])
      }))

    it.effect("is idempotent, concurrent-safe, and adds the columns of a newer schema", () =>
      Effect.gen(function*() {
        yield* Effect.all(Array.from({ length: 4 }, () => CacheTables.ensure("concurrent", manifest)), { concurrency: "unbounded" })
        const before = yield* columnsInDb("cache_concurrent_parent")
        const NewerRow = Schema.Struct({
          ...ParentRow.fields,
          severity: Schema.Int,
          owner: Schema.NullOr(Schema.String).pipe(Reference.hardRef("child"))
        })
        const newer = EntityDefinition.make({ ...parent, apiSchema: NewerRow, rowSchema: NewerRow, transform: Either.right })
        const tables = yield* CacheTables.ensure("concurrent", Manifest.unsafeMakeEntityManifest([newer, child]))
        const after = yield* columnsInDb("cache_concurrent_parent")
        expect(after.length).toBe(before.length + 2)
        // Rows stored before the field existed have no value for it: added columns are nullable.
        expect(after.filter((c) => ["severity", "owner"].includes(c.column_name)).map((c) => [c.column_name, c.is_nullable]))
          .toEqual([["severity", "YES"], ["owner", "YES"]])
        expect(tables.get("parent")!.columns.map((c) => c.name)).toContain("severity")
        yield* CacheTables.ensure("concurrent", Manifest.unsafeMakeEntityManifest([newer, child]))
      }))

    it.effect("creates tables for odd field names and types", () =>
      Effect.gen(function*() {
        yield* CacheTables.ensure(ADAPTER, Manifest.unsafeMakeEntityManifest([parent, odd]))
        const columns = yield* columnsInDb(CacheTables.tableName(ADAPTER, "Odd-Entity"))
        expect(columns.map((c) => c.column_name)).toContain("field_raw")
        expect(columns.find((c) => c.column_name === "big")?.data_type).toBe("numeric")
      }))
  })
})
