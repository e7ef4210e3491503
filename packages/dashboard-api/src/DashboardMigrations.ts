/**
 * The dashboard's own schema, run at startup after the engine's: the indexes that keep the
 * time-window queries of the overview, risk and impact fast, then (as a migration) the counter table
 * and its trigger on the change log. The engine's tables are not edited, only read and indexed.
 *
 * Syncs may be writing while this runs (another node, or runs resumed at startup), so no step holds a
 * lock while it waits for another: each index is built in a transaction of its own, and the counters
 * migration takes the change log's lock before it touches anything else.
 */
import { Migrator, SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { ItsmEntities } from "@tidemark/itsm-adapter"
import { CacheTables, Migrations } from "@tidemark/sync-engine"
import { Effect } from "effect"
import * as DashboardCounters from "./DashboardCounters.js"
import { ADAPTER, table } from "./Records.js"

export const migrationsTable = "dashboard_migrations"

/** Advisory locks of this module, in a two-int4 key space of their own. */
export const LockSpace = 0x6462
export const MigrationsLock = 1
export const IndexLock = 2

const counters = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // First, before any other lock: page transactions that already wrote to the change log finish,
  // new ones wait. From here to the commit the cache cannot change, so the counts `rebuild` takes
  // below and the trigger's deltas that follow never overlap and never miss a page.
  yield* sql`LOCK TABLE sync_changes IN SHARE ROW EXCLUSIVE MODE`
  yield* sql`CREATE TABLE dashboard_counters (
    org_id text NOT NULL,
    metric text NOT NULL,
    dimension text NOT NULL,
    value bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, metric, dimension)
  )`
  for (const statement of DashboardCounters.functions(sql)) yield* statement
  yield* sql`CREATE TRIGGER dashboard_counters_from_changes AFTER INSERT ON sync_changes
    REFERENCING NEW TABLE AS changes FOR EACH STATEMENT EXECUTE FUNCTION dashboard_count_changes()`
  yield* DashboardCounters.rebuild
})

/** Every migration, by `<id>_<name>`; append only, never edit one that has shipped. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_counters": counters
}

interface IndexSpec {
  readonly name: string
  readonly entity: "incident" | "change_request" | "em_event" | "cmdb_ci"
  /** What follows `ON <table>`. */
  readonly definition: string
}

// None is partial on `deleted_at IS NULL` alone: the page sink's probe of a row by
// `(org_id, key) AND deleted_at IS NULL` could match such an index on its `org_id` prefix, and on a
// table not yet analyzed (a first full sync) the planner picked one and scanned the whole org per
// row: pages slowed down linearly as the table grew (measured: 0.15 s to 5.8 s per 2,000-row page
// after 16,000 rows). The partial indexes below also name `state`, which that probe never does.
export const indexes: ReadonlyArray<IndexSpec> = [
  // Dependants of an item: `u_depends_on` is plain text, so the engine has no reference index on it.
  { name: "dashboard_ci_depends_on_idx", entity: "cmdb_ci", definition: "(org_id, u_depends_on)" },
  // Changes scheduled in a window; changes on an item around a time (risk, collisions).
  {
    name: "dashboard_change_start_idx",
    entity: "change_request",
    definition: "(org_id, start_date) INCLUDE (risk, state)"
  },
  { name: "dashboard_change_ci_start_idx", entity: "change_request", definition: "(org_id, cmdb_ci, start_date)" },
  { name: "dashboard_change_number_idx", entity: "change_request", definition: "(org_id, number)" },
  // Lists: newest first by (sys_updated_on, key), the keyset of their cursor.
  { name: "dashboard_change_list_idx", entity: "change_request", definition: "(org_id, source_updated_at, key)" },
  // Events in a window, by severity (index-only), and per item (risk, impact).
  { name: "dashboard_event_time_idx", entity: "em_event", definition: "(org_id, time_of_event) INCLUDE (severity)" },
  { name: "dashboard_event_ci_time_idx", entity: "em_event", definition: "(org_id, cmdb_ci, time_of_event)" },
  { name: "dashboard_event_list_idx", entity: "em_event", definition: "(org_id, source_updated_at, key)" },
  { name: "dashboard_incident_list_idx", entity: "incident", definition: "(org_id, source_updated_at, key)" },
  { name: "dashboard_incident_number_idx", entity: "incident", definition: "(org_id, number)" },
  // Past SLA: the open, unflagged incidents still within their target are the recent ones, a short
  // range per priority at the top of this index (the rest is a counter minus that range).
  {
    name: "dashboard_incident_open_sla_idx",
    entity: "incident",
    definition: "(org_id, priority, opened_at) " +
      "WHERE deleted_at IS NULL AND state IN (1, 2, 3) AND made_sla IS DISTINCT FROM false"
  },
  // Open incidents of an item (risk, impact).
  {
    name: "dashboard_incident_ci_open_idx",
    entity: "incident",
    definition: "(org_id, cmdb_ci) WHERE deleted_at IS NULL AND state IN (1, 2, 3)"
  }
]

/**
 * Creates the indexes that are missing, each in its own short transaction (it blocks writes to its
 * table while it builds; holding it while waiting for the next table could deadlock with a page).
 */
export const ensureIndexes: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Checked first: CREATE INDEX takes its lock even when the index exists.
  const existing = new Set(
    (yield* sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()`)
      .map((row) => row.indexname)
  )
  for (const index of indexes.filter((index) => !existing.has(index.name))) {
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(${LockSpace}, ${IndexLock})`
      yield* sql`CREATE INDEX IF NOT EXISTS ${sql(index.name)} ON ${sql(table(index.entity))} ${
        sql.literal(index.definition)
      }`
    }))
    yield* Effect.logInfo("dashboard index created").pipe(Effect.annotateLogs({ index: index.name }))
  }
})

/**
 * Brings the dashboard's schema up to date, after making sure the engine's tables and the ITSM
 * cache tables exist (both idempotent): indexes, then migrations. Safe from several processes at
 * once (advisory locks). Returns the migrations applied by this call, `[id, name]`.
 */
export const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  SqlError | Migrator.MigrationError | CacheTables.CacheTableError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  yield* Migrations.run
  yield* CacheTables.ensure(ADAPTER, ItsmEntities.itsmManifest)
  yield* ensureIndexes
  return yield* Migrations.runMigrations({
    table: migrationsTable,
    lockSpace: LockSpace,
    lockKey: MigrationsLock,
    migrations,
    label: "dashboard migrations"
  })
}).pipe(Effect.withSpan("DashboardMigrations.run"))
