/**
 * What the counter trigger costs the page sink, and what the overview costs to read.
 *
 *   node --import tsx packages/dashboard-api/bench/counters-bench.ts          (embedded Postgres, temp folder)
 *   DATABASE_URL=postgres://… BENCH_ROWS=200000 node --import tsx packages/dashboard-api/bench/counters-bench.ts
 *
 * 1. Sink: `BENCH_ROWS` ITSM incidents (default 100,000) written by `PageSink.write` in pages of 2,000,
 *    into two orgs, page by page alternately with the trigger enabled (org `with`) and disabled (org
 *    `without`), so that checkpoints and autovacuum fall on both alike; an insert pass, then an update
 *    pass in which every incident changes state, priority or made_sla. Then the update pass again with
 *    four writers at once (the engine's parallel partitions), trigger on, then off.
 * 2. Reads on that cache: the overview (`Overview.overview`) and the risk of random incidents, called
 *    directly (no HTTP), with p50 / p95.
 * Prints one JSON line.
 */
import { SqlClient } from "@effect/sql"
import type { Adapter } from "@tidemark/adapter-core"
import { ItsmEntities } from "@tidemark/itsm-adapter"
import { Database, EmbeddedPostgres, PageSink } from "@tidemark/sync-engine"
import { Cause, Effect, Exit, Logger, LogLevel, Option, Redacted } from "effect"
import * as DashboardMigrations from "../src/DashboardMigrations.js"
import { overview } from "../src/Overview.js"
import { riskOf } from "../src/Risk.js"

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000)
const PAGE = 2_000
const BASE = Date.UTC(2026, 5, 1)
const CIS = 3_000

const hex = (n: number) => n.toString(16).padStart(32, "0")
const stamp = (date: Date) => date.toISOString().slice(0, 19).replace("T", " ")

/** An incident as the adapter would hand it over: typed row and raw strings. */
const incident = (i: number, version: number): Adapter.SourceRecord => {
  const opened = new Date(BASE - (i % 5000) * 3_600_000)
  const updated = new Date(BASE + i * 10 + version * 86_400_000)
  const row = {
    sys_id: hex(i),
    sys_created_on: opened,
    sys_updated_on: updated,
    sys_mod_count: version,
    sys_created_by: "bench",
    sys_updated_by: "bench",
    number: `INC${String(i).padStart(7, "0")}`,
    short_description: `Synthetic incident ${i}: mail relay slow on host ${i % 977}`,
    category: "software",
    state: [1, 2, 3, 6, 7, 8][(i * 7 + version * 3) % 6]!,
    priority: 1 + ((i + version) % 5),
    impact: 1 + (i % 3),
    urgency: 1 + (i % 3),
    caller_id: hex(1_000_000 + (i % 500)),
    cmdb_ci: hex(2_000_000 + (i % CIS)),
    assignment_group: hex(3_000_000 + (i % 20)),
    assigned_to: hex(1_000_000 + (i % 300)),
    problem_id: null,
    caused_by: null,
    opened_at: opened,
    resolved_at: null,
    closed_at: null,
    reopen_count: version % 2,
    made_sla: (i + version) % 9 !== 0
  }
  const raw: Record<string, string> = {}
  for (const [field, value] of Object.entries(row)) {
    raw[field] = value === null ? "" : value instanceof Date ? stamp(value) : String(value)
  }
  return { key: row.sys_id, cursor: updated, row, raw }
}

const percentiles = (millis: Array<number>) => {
  millis.sort((a, b) => a - b)
  const at = (q: number) => Math.round(millis[Math.min(millis.length - 1, Math.floor(q * millis.length))]! * 100) / 100
  return { n: millis.length, p50: at(0.5), p95: at(0.95) }
}

const bench = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* DashboardMigrations.run
  const setTrigger = (enabled: boolean) =>
    sql`ALTER TABLE sync_changes ${sql.literal(enabled ? "ENABLE" : "DISABLE")} TRIGGER dashboard_counters_from_changes`
  const pageCount = Math.ceil(ROWS / PAGE)
  const page = (p: number, version: number) =>
    Array.from({ length: Math.min(PAGE, ROWS - p * PAGE) }, (_, i) => incident(p * PAGE + i, version))
  const write = (orgId: string, runId: string, pageNo: number, records: ReadonlyArray<Adapter.SourceRecord>) =>
    PageSink.write({
      orgId,
      adapter: "itsm",
      runId,
      entity: ItsmEntities.incident,
      pageNo,
      records,
      invalid: [],
      from: Option.none(),
      to: Option.some({ cursor: records.at(-1)!.cursor!, key: records.at(-1)!.key }),
      node: "bench",
      advanceWatermark: true
    })
  const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const start = performance.now()
      yield* effect
      return performance.now() - start
    })

  const interleaved = (name: string, version: number) =>
    Effect.gen(function*() {
      const millis = { with: 0, without: 0 }
      for (let p = 0; p < pageCount; p++) {
        const records = page(p, version)
        yield* setTrigger(true)
        millis.with += yield* timed(write("with", `${name}-with`, p + 1, records))
        yield* setTrigger(false)
        millis.without += yield* timed(write("without", `${name}-without`, p + 1, records))
      }
      yield* setTrigger(true)
      const rps = (ms: number) => Math.round((ROWS / ms) * 1000)
      return { with_rps: rps(millis.with), without_rps: rps(millis.without), cost: Number((millis.with / millis.without - 1).toFixed(3)) }
    })

  /** Four writers at once over disjoint pages of one org, as parallel partitions of a full sync write. */
  const concurrent = (orgId: string, name: string, version: number) =>
    timed(Effect.forEach(
      Array.from({ length: pageCount }, (_, p) => p),
      (p) => write(orgId, name, p + 1, page(p, version)),
      { concurrency: 4, discard: true }
    )).pipe(Effect.map((ms) => Math.round((ROWS / ms) * 1000)))

  const insert = yield* interleaved("insert", 0)
  const update = yield* interleaved("update", 1)
  const concurrentWith = yield* concurrent("with", "concurrent-with", 2)
  yield* setTrigger(false)
  const concurrentWithout = yield* concurrent("without", "concurrent-without", 2)
  yield* setTrigger(true)

  yield* sql`ANALYZE`
  const asOf = new Date(BASE)
  const overviewMillis: Array<number> = []
  for (let i = 0; i < 200; i++) overviewMillis.push(yield* timed(overview("with", asOf)))
  const riskMillis: Array<number> = []
  for (let i = 0; i < 200; i++) riskMillis.push(yield* timed(riskOf("with", hex((i * 7919) % ROWS), asOf)))
  const [counters] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM dashboard_counters WHERE org_id = 'with'`
  return {
    bench: "dashboard.counters",
    rows: ROWS,
    page: PAGE,
    sink: {
      insert,
      update,
      concurrent4_update: {
        with_rps: concurrentWith,
        without_rps: concurrentWithout,
        cost: Number((concurrentWithout / concurrentWith - 1).toFixed(3))
      }
    },
    reads: { counters: counters!.n, overview_ms: percentiles(overviewMillis), risk_ms: percentiles(riskMillis) }
  }
})

const program = Effect.gen(function*() {
  const configured = process.env.DATABASE_URL
  const adminUrl = configured
    ? Redacted.make(configured)
    : Redacted.make((yield* EmbeddedPostgres.start({
      dataDir: yield* EmbeddedPostgres.temporaryDataDir("tidemark-bench-pg-"),
      persistent: false
    })).url)
  const db = yield* Database.freshDatabase(adminUrl, "bench_counters")
  return yield* Effect.provide(bench, Database.layerFromUrl(db.url, 6))
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isSuccess(exit)) {
    process.stdout.write(`${JSON.stringify(exit.value)}\n`)
  } else {
    process.stderr.write(`${Cause.pretty(exit.cause, { renderErrorCause: true })}\n`)
    process.exitCode = 1
  }
})
