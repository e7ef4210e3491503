/**
 * The page sink against the floor it is measured by: a bare single-statement `unnest` upsert of the
 * same rows into an identical table (no cursor guard, no change log, no history). 100,000 incident-like
 * rows with a ~500-byte raw body, in pages of 2,000, pages of the variants interleaved so that
 * checkpoints and autovacuum fall on all of them alike.
 *
 *   node --import tsx packages/sync-engine/bench/sink-vs-bare.ts          (embedded Postgres, temp folder)
 *   DATABASE_URL=postgres://… node --import tsx packages/sync-engine/bench/sink-vs-bare.ts
 *
 * Prints one JSON line: `insert` pass (every row new) at the top level, `update` (every row newer) and
 * `unchanged` (identical re-delivery) passes nested. `bare_rps` binds raw as `jsonb[]` (the obvious
 * bare statement); `bare_json_rps` binds it as one JSON array, as the sink does.
 */
import { SqlClient } from "@effect/sql"
import type { Adapter } from "@tidemark/adapter-core"
import { EntityDefinition, Manifest, Reference } from "@tidemark/adapter-core"
import { Cause, Effect, Either, Exit, Logger, LogLevel, Option, Redacted, Schema } from "effect"
import * as CacheTables from "../src/CacheTables.js"
import * as Database from "../src/Database.js"
import * as EmbeddedPostgres from "../src/EmbeddedPostgres.js"
import * as Migrations from "../src/Migrations.js"
import * as PageSink from "../src/PageSink.js"

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000)
const PAGE = Number(process.env.BENCH_PAGE ?? 2_000)
const ADAPTER = "bench"
const ORG = "acme"

const IncidentRow = Schema.Struct({
  sys_id: Schema.String,
  number: Schema.String,
  short_description: Schema.String,
  category: Schema.String,
  state: Schema.NullOr(Schema.Int),
  priority: Schema.NullOr(Schema.Int),
  impact: Schema.NullOr(Schema.Int),
  urgency: Schema.NullOr(Schema.Int),
  caller_id: Schema.NullOr(Schema.String).pipe(Reference.softRef("incident")),
  cmdb_ci: Schema.NullOr(Schema.String),
  assignment_group: Schema.NullOr(Schema.String),
  opened_at: Schema.NullOr(Schema.DateFromSelf),
  resolved_at: Schema.NullOr(Schema.DateFromSelf),
  reopen_count: Schema.NullOr(Schema.Int),
  made_sla: Schema.NullOr(Schema.Boolean),
  sys_updated_on: Schema.DateFromSelf
})
type IncidentRow = typeof IncidentRow.Type

const incident = EntityDefinition.make({
  name: "incident",
  endpoint: "/api/now/table/incident",
  apiSchema: IncidentRow,
  rowSchema: IncidentRow,
  transform: Either.right,
  key: "sys_id",
  cursor: "sys_updated_on",
  deletions: { auditFeed: true, reconciliation: true }
})

const hex = (n: number) => n.toString(16).padStart(32, "0")
const stamp = (date: Date) => date.toISOString().slice(0, 19).replace("T", " ")
const base = Date.UTC(2026, 0, 1)

const record = (i: number, version: number): Adapter.SourceRecord => {
  const updated = new Date(base + i * 1000 + version * 86_400_000)
  const opened = new Date(base + i * 1000)
  const row: IncidentRow = {
    sys_id: hex(i),
    number: `INC${String(i).padStart(7, "0")}`,
    short_description: `Synthetic incident ${i}, version ${version}: mail relay slow`,
    category: "software",
    state: 1 + (i + version) % 7,
    priority: 1 + i % 5,
    impact: 1 + i % 3,
    urgency: 1 + i % 3,
    caller_id: hex(1_000_000 + i % 500),
    cmdb_ci: hex(2_000_000 + i % 300),
    assignment_group: hex(3_000_000 + i % 20),
    opened_at: opened,
    resolved_at: null,
    reopen_count: version,
    made_sla: i % 4 !== 0,
    sys_updated_on: updated
  }
  const raw: Record<string, string> = {}
  for (const [field, value] of Object.entries(row)) {
    raw[field] = value === null ? "" : value instanceof Date ? stamp(value) : String(value)
  }
  return { key: row.sys_id, cursor: updated, row, raw }
}

/** The bare floor: every column as an array parameter, raw as `jsonb[]` or as one JSON array. */
const bareUpsert = (
  sql: SqlClient.SqlClient,
  table: string,
  columns: ReadonlyArray<CacheTables.CacheColumn>,
  records: ReadonlyArray<Adapter.SourceRecord>,
  rawEncoding: "jsonb[]" | "json"
) => {
  const names = ["key", ...columns.map((column) => column.name), "source_updated_at", "raw"]
  const nameList = sql.csv(names.map((name) => sql`${sql(name)}`))
  const bound = CacheTables.bind({ name: table, adapter: ADAPTER, entity: "incident", keyField: "sys_id", cursorField: Option.some("sys_updated_on"), columns }, records)
  const raws = rawEncoding === "json"
    ? sql`jsonb_array_elements(${bound.raws}::jsonb)`
    : sql`unnest(${records.map((record) => JSON.stringify(record.raw))}::jsonb[])`
  const sources = sql.csv([
    sql`unnest(${bound.keys}::text[])`,
    ...columns.map((column, i) => sql`unnest(${bound.columns[i]}::${sql.literal(column.sqlType)}[])`),
    sql`unnest(${bound.cursors}::timestamptz[])`,
    raws
  ])
  return sql`
    INSERT INTO ${sql(table)} (org_id, ${nameList})
    SELECT ${ORG}, * FROM ROWS FROM (${sources}) AS i (${nameList})
    ON CONFLICT (org_id, key) DO UPDATE SET ${
    sql.csv([...columns.map((column) => column.name), "source_updated_at", "raw"].map((name) => sql`${sql(name)} = EXCLUDED.${sql(name)}`))
  }, synced_at = now()`
}

const bench = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* Migrations.run
  const tables = yield* CacheTables.ensure(ADAPTER, Manifest.unsafeMakeEntityManifest([incident]))
  const table = tables.get("incident")!
  for (const bare of ["bench_bare", "bench_bare_json"]) {
    yield* sql`CREATE TABLE ${sql(bare)} (LIKE ${sql(table.name)} INCLUDING ALL)`
  }
  const rawBytes = Buffer.byteLength(JSON.stringify(record(1, 0).raw))

  const pass = (name: string, version: number) =>
    Effect.gen(function*() {
      const pages = Array.from({ length: Math.ceil(ROWS / PAGE) }, (_, p) =>
        Array.from({ length: Math.min(PAGE, ROWS - p * PAGE) }, (_, i) => record(p * PAGE + i, version)))
      const millis = { sink: 0, bare: 0, bareJson: 0 }
      const time = <A, E, R>(key: keyof typeof millis, effect: Effect.Effect<A, E, R>) =>
        Effect.gen(function*() {
          const start = performance.now()
          const result = yield* effect
          millis[key] += performance.now() - start
          return result
        })
      let applied = 0
      for (const [p, records] of pages.entries()) {
        yield* time("bare", sql.withTransaction(Effect.suspend(() => bareUpsert(sql, "bench_bare", table.columns, records, "jsonb[]"))))
        const counts = yield* time("sink", PageSink.write({
          orgId: ORG,
          adapter: ADAPTER,
          runId: `bench-${name}`,
          entity: incident,
          pageNo: p + 1,
          records,
          invalid: [],
          from: Option.none(),
          to: Option.some({ cursor: records[records.length - 1]!.cursor!, key: records[records.length - 1]!.key }),
          node: "bench",
          advanceWatermark: true
        }))
        applied += counts.inserted + counts.updated
        yield* time("bareJson", sql.withTransaction(Effect.suspend(() => bareUpsert(sql, "bench_bare_json", table.columns, records, "json"))))
      }
      const rps = (ms: number) => Math.round((ROWS / ms) * 1000)
      return {
        sink_rps: rps(millis.sink),
        bare_rps: rps(millis.bare),
        ratio: Number((millis.bare / millis.sink).toFixed(2)),
        bare_json_rps: rps(millis.bareJson),
        ratio_vs_bare_json: Number((millis.bareJson / millis.sink).toFixed(2)),
        applied
      }
    })

  const insert = yield* pass("insert", 0)
  const update = yield* pass("update", 1)
  const unchanged = yield* pass("unchanged", 1)
  const { applied: _applied, ...top } = insert
  return { bench: "sink.page", rows: ROWS, page: PAGE, raw_bytes: rawBytes, ...top, update, unchanged }
})

const program = Effect.gen(function*() {
  const configured = process.env.DATABASE_URL
  const adminUrl = configured
    ? Redacted.make(configured)
    : Redacted.make((yield* EmbeddedPostgres.start({
      dataDir: yield* EmbeddedPostgres.temporaryDataDir("tidemark-bench-pg-"),
      persistent: false
    })).url)
  const db = yield* Database.freshDatabase(adminUrl, "bench_sink")
  return yield* Effect.provide(bench, Database.layerFromUrl(db.url, 4))
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isSuccess(exit)) {
    process.stdout.write(`${JSON.stringify(exit.value)}\n`)
  } else {
    process.stderr.write(`${Cause.pretty(exit.cause, { renderErrorCause: true })}\n`)
    process.exitCode = 1
  }
})
