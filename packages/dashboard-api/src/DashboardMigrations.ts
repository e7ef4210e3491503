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
import { OPEN_INCIDENT_STATES } from "./ItsmVocabulary.js"
import { ADAPTER, incidentColumns, table } from "./Records.js"

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

/**
 * What an overview snapshot is made of changed: the cache of an org (payload: the org) or the run
 * history and watermarks (payload: empty, every org). `OverviewSnapshots` listens on this channel.
 */
export const ChangesChannel = "tidemark_dashboard"

// Idempotent (OR REPLACE), as is the risk function below: nothing is lost if they run again.
// Statement-level, so a page of 2,000 rows notifies once; Postgres delivers after the commit, and
// folds identical notifications of one transaction into one.
const notifications = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE OR REPLACE FUNCTION dashboard_notify_cache_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify(${sql.literal(`'${ChangesChannel}'`)}, o.org_id) FROM (SELECT DISTINCT org_id FROM changes) o;
      RETURN NULL;
    END $$`
  yield* sql`CREATE OR REPLACE FUNCTION dashboard_notify_history_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify(${sql.literal(`'${ChangesChannel}'`)}, '');
      RETURN NULL;
    END $$`
  yield* sql`CREATE OR REPLACE TRIGGER dashboard_notify_from_changes AFTER INSERT ON sync_changes
    REFERENCING NEW TABLE AS changes FOR EACH STATEMENT EXECUTE FUNCTION dashboard_notify_cache_changes()`
  for (const history of ["sync_runs", "sync_entity_runs", "sync_watermarks"]) {
    yield* sql`CREATE OR REPLACE TRIGGER ${sql(`dashboard_notify_from_${history}`)} AFTER INSERT OR UPDATE ON ${sql(history)}
      FOR EACH STATEMENT EXECUTE FUNCTION dashboard_notify_history_changes()`
  }
})

// The risk reads as one call: one round trip instead of four, and PL/pgSQL keeps each statement's
// plan for the session, so a request is not planned again (see Risk.riskOf, which owns the rules;
// what they depend on comes in as parameters). The open states alone are written into the body: a
// cached generic plan can only use the partial index of open incidents (state IN (1, 2, 3)) when
// the query names the same constants.
const riskFunction = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const incidents = sql(table("incident"))
  const changes = sql(table("change_request"))
  const events = sql(table("em_event"))
  const openStates = sql.literal(`(${OPEN_INCIDENT_STATES.join(", ")})`)
  // Each factor's rows (table alias t, the incident i), for its count and for its first rows.
  const otherOpenIncidents = sql`t.org_id = p_org AND t.cmdb_ci = i.cmdb_ci AND t.deleted_at IS NULL
    AND t.state IN ${openStates} AND t.key <> i.key`
  const nearbyChanges = sql`t.org_id = p_org AND t.cmdb_ci = i.cmdb_ci AND t.deleted_at IS NULL
    AND coalesce(t.state, 0) <> p_canceled_change_state
    AND t.start_date <= i.opened_at + make_interval(hours => p_change_hours)
    AND coalesce(t.end_date, t.start_date) >= i.opened_at - make_interval(hours => p_change_hours)`
  const criticalEvents = sql`t.org_id = p_org AND t.cmdb_ci = i.cmdb_ci AND t.severity = p_critical_severity
    AND t.time_of_event > p_as_of - make_interval(hours => p_event_hours) AND t.time_of_event <= p_as_of
    AND t.deleted_at IS NULL`
  yield* sql`CREATE OR REPLACE FUNCTION dashboard_incident_risk(
      p_org text, p_id text, p_by_number boolean, p_as_of timestamptz,
      p_canceled_change_state bigint, p_critical_severity bigint, p_change_hours int, p_event_hours int,
      p_items int
    ) RETURNS json LANGUAGE plpgsql STABLE AS $$
    DECLARE
      i record;
    BEGIN
      IF p_by_number THEN
        SELECT ${incidentColumns(sql, "t")} INTO i
        FROM ${incidents} t
        WHERE t.org_id = p_org AND t.deleted_at IS NULL AND t.number = p_id
        ORDER BY t.source_updated_at DESC NULLS LAST LIMIT 1;
      ELSE
        SELECT ${incidentColumns(sql, "t")} INTO i
        FROM ${incidents} t
        WHERE t.org_id = p_org AND t.deleted_at IS NULL AND t.key = p_id;
      END IF;
      IF NOT FOUND THEN
        RETURN NULL;
      END IF;
      -- Each factor: its exact count (an index-only range) and its first rows in the index's own
      -- order (a LIMIT that stops early), so an item with thousands of open incidents costs a
      -- count of index entries, never a sort of its rows.
      RETURN json_build_object(
        'incident', row_to_json(i),
        'open_count', (SELECT count(*) FROM ${incidents} t
          WHERE ${otherOpenIncidents}),
        'open_incidents', (SELECT coalesce(json_agg(x ORDER BY x.priority NULLS LAST, x.opened_at, x.sys_id), '[]') FROM (
          SELECT t.key AS sys_id, t.number, t.priority, t.opened_at
          FROM ${incidents} t
          WHERE ${otherOpenIncidents}
          ORDER BY t.priority NULLS LAST, t.opened_at, t.key LIMIT p_items) x),
        'change_count', (SELECT count(*) FROM ${changes} t
          WHERE ${nearbyChanges}),
        'nearby_changes', (SELECT coalesce(json_agg(x ORDER BY x.start_date, x.sys_id), '[]') FROM (
          SELECT t.key AS sys_id, t.number, t.risk, t.start_date, t.end_date
          FROM ${changes} t
          WHERE ${nearbyChanges}
          ORDER BY t.start_date, t.key LIMIT p_items) x),
        'event_count', (SELECT count(*) FROM ${events} t
          WHERE ${criticalEvents}),
        'critical_events', (SELECT coalesce(json_agg(x ORDER BY x.time_of_event DESC, x.sys_id), '[]') FROM (
          SELECT t.key AS sys_id, t.severity, t.time_of_event, t.message_key
          FROM ${events} t
          WHERE ${criticalEvents}
          ORDER BY t.time_of_event DESC, t.key LIMIT p_items) x)
      );
    END $$`
})

/** Every migration, by `<id>_<name>`; append only, never edit one that has shipped. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_counters": counters,
  "0002_snapshot_notifications": notifications,
  "0003_risk_function": riskFunction,
  // The same function, replaced: counts and first rows read apart, in index order.
  "0004_risk_function_index_order": riskFunction
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
  // Critical events of an item in a window (risk): severity before time, so the range is exact.
  {
    name: "dashboard_event_ci_severity_time_idx",
    entity: "em_event",
    definition: "(org_id, cmdb_ci, severity, time_of_event) INCLUDE (deleted_at)"
  },
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
  // Open incidents of an item (risk, impact), in the order risk lists them as evidence, so their
  // first rows are the index's first entries and their count an index-only scan.
  {
    name: "dashboard_incident_ci_open_order_idx",
    entity: "incident",
    definition: "(org_id, cmdb_ci, priority, opened_at, key) WHERE deleted_at IS NULL AND state IN (1, 2, 3)"
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
