/**
 * The engine's own tables (run history, watermarks, dead letters, change log, missing parents) and the
 * views over them, as migrations in code. Cache tables are not here: their columns come from the
 * manifest, so `CacheTables.ensure` owns them.
 */
import { Migrator, SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** Name of the table recording which migrations ran. */
export const migrationsTable = "tidemark_migrations"

/**
 * Advisory lock keys of the engine, in the two-int4 key space (which never collides with the one-bigint
 * space @effect/cluster uses for its shard locks).
 */
export const LockSpace = 0x7464
export const MigrationsLock = 1
export const CacheDdlLock = 2

const migration = (statements: (sql: SqlClient.SqlClient) => ReadonlyArray<Effect.Effect<unknown, unknown>>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(statements(sql), (statement) => statement, { discard: true }))

const runHistory = migration((sql) => [
  sql`CREATE TABLE sync_runs (
    run_id text PRIMARY KEY,
    org_id text NOT NULL,
    adapter text NOT NULL,
    sync_type text NOT NULL CHECK (sync_type IN ('full', 'delta', 'reconciliation')),
    entities text[] NULL,
    status text NOT NULL DEFAULT 'pending'
      CHECK (status IN ('pending', 'running', 'succeeded', 'partial', 'failed', 'cancelled')),
    plan jsonb NULL,
    error text NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz NULL,
    finished_at timestamptz NULL
  )`,
  sql`CREATE INDEX sync_runs_org_requested_idx ON sync_runs (org_id, adapter, requested_at DESC)`,
  sql`CREATE INDEX sync_runs_active_idx ON sync_runs (org_id, adapter) WHERE status IN ('pending', 'running')`,
  sql`CREATE INDEX sync_runs_unsuccessful_idx ON sync_runs (requested_at DESC) WHERE status IN ('failed', 'partial')`,
  sql`CREATE TABLE sync_entity_runs (
    run_id text NOT NULL REFERENCES sync_runs (run_id) ON DELETE CASCADE,
    entity text NOT NULL,
    level int NULL,
    status text NOT NULL DEFAULT 'pending'
      CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled')),
    reason text NULL,
    node text NULL,
    pages int NOT NULL DEFAULT 0,
    records int NOT NULL DEFAULT 0,
    inserted int NOT NULL DEFAULT 0,
    updated int NOT NULL DEFAULT 0,
    unchanged int NOT NULL DEFAULT 0,
    deleted int NOT NULL DEFAULT 0,
    dead_letters int NOT NULL DEFAULT 0,
    watermark_before timestamptz NULL,
    watermark_after timestamptz NULL,
    high_water timestamptz NULL,
    error text NULL,
    started_at timestamptz NULL,
    finished_at timestamptz NULL,
    PRIMARY KEY (run_id, entity)
  )`,
  sql`CREATE INDEX sync_entity_runs_entity_idx ON sync_entity_runs (entity, started_at DESC)`,
  sql`CREATE INDEX sync_entity_runs_failed_idx ON sync_entity_runs (run_id) WHERE status IN ('failed', 'skipped')`,
  // No foreign key to sync_entity_runs: the page sink commits pages on its own, and a page row is
  // history worth keeping even when the workflow that would have written the entity run died.
  // `attempts` counts deliveries of the page: an activity re-run after a crash commits it again.
  sql`CREATE TABLE sync_pages (
    run_id text NOT NULL,
    entity text NOT NULL,
    page_no int NOT NULL,
    org_id text NOT NULL,
    adapter text NOT NULL,
    records int NOT NULL DEFAULT 0,
    inserted int NOT NULL DEFAULT 0,
    updated int NOT NULL DEFAULT 0,
    unchanged int NOT NULL DEFAULT 0,
    deleted int NOT NULL DEFAULT 0,
    dead_letters int NOT NULL DEFAULT 0,
    cursor_from timestamptz NULL,
    key_from text NULL,
    cursor_to timestamptz NULL,
    key_to text NULL,
    node text NULL,
    duration_ms int NULL,
    attempts int NOT NULL DEFAULT 1,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, entity, page_no)
  )`,
  sql`CREATE INDEX sync_pages_committed_idx ON sync_pages (org_id, adapter, entity, committed_at)`
])

const stateAndLogs = migration((sql) => [
  sql`CREATE TABLE sync_watermarks (
    org_id text NOT NULL,
    adapter text NOT NULL,
    entity text NOT NULL,
    watermark timestamptz NULL,
    inflight_run_id text NULL,
    inflight_cursor timestamptz NULL,
    inflight_key text NULL,
    last_full_at timestamptz NULL,
    last_reconciliation_at timestamptz NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, adapter, entity)
  )`,
  sql`CREATE TABLE sync_dead_letters (
    id bigserial PRIMARY KEY,
    org_id text NOT NULL,
    adapter text NOT NULL,
    entity text NOT NULL,
    run_id text NULL,
    page_no int NULL,
    key text NULL,
    reason text NOT NULL,
    raw jsonb NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE INDEX sync_dead_letters_entity_idx ON sync_dead_letters (org_id, adapter, entity, created_at DESC)`,
  sql`CREATE INDEX sync_dead_letters_page_idx ON sync_dead_letters (run_id, entity, page_no)`,
  sql`CREATE TABLE sync_changes (
    id bigserial PRIMARY KEY,
    org_id text NOT NULL,
    adapter text NOT NULL,
    entity text NOT NULL,
    key text NOT NULL,
    op text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    previous jsonb NULL,
    current jsonb NULL,
    source_updated_at timestamptz NULL,
    run_id text NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
  )`,
  // Watch subscribers read an entity's changes in id order; a record's history is read by key.
  sql`CREATE INDEX sync_changes_entity_idx ON sync_changes (org_id, adapter, entity, id)`,
  sql`CREATE INDEX sync_changes_key_idx ON sync_changes (org_id, adapter, entity, key, id)`,
  sql`CREATE INDEX sync_changes_run_idx ON sync_changes (run_id) WHERE run_id IS NOT NULL`,
  sql`CREATE TABLE sync_missing_parents (
    org_id text NOT NULL,
    adapter text NOT NULL,
    entity text NOT NULL,
    key text NOT NULL,
    field text NOT NULL,
    parent_entity text NOT NULL,
    parent_key text NOT NULL,
    run_id text NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, adapter, entity, key, field)
  )`,
  sql`CREATE INDEX sync_missing_parents_parent_idx ON sync_missing_parents (org_id, adapter, parent_entity, parent_key)`
])

const views = migration((sql) => [
  sql`CREATE OR REPLACE VIEW sync_latest_entity_runs AS
    SELECT DISTINCT ON (r.org_id, r.adapter, e.entity)
      r.org_id, r.adapter, e.entity, e.run_id, r.sync_type, e.level, e.status, e.reason, e.node,
      e.pages, e.records, e.inserted, e.updated, e.unchanged, e.deleted, e.dead_letters,
      e.watermark_before, e.watermark_after, e.high_water, e.error,
      r.requested_at, e.started_at, e.finished_at,
      extract(epoch FROM e.finished_at - e.started_at)::double precision AS duration_s
    FROM sync_entity_runs e
    JOIN sync_runs r ON r.run_id = e.run_id
    ORDER BY r.org_id, r.adapter, e.entity, coalesce(e.started_at, r.requested_at) DESC, r.requested_at DESC`,
  // Skipped entity runs are listed too: their reason names the failed hard parent that caused them.
  sql`CREATE OR REPLACE VIEW sync_failed_runs AS
    SELECT r.run_id, r.org_id, r.adapter, r.sync_type, r.status, r.error AS run_error,
      r.requested_at, r.started_at, r.finished_at,
      e.entity, e.status AS entity_status, e.reason AS entity_reason, e.error AS entity_error, e.node,
      e.pages, e.records, e.dead_letters, e.started_at AS entity_started_at, e.finished_at AS entity_finished_at
    FROM sync_runs r
    LEFT JOIN sync_entity_runs e ON e.run_id = r.run_id AND e.status IN ('failed', 'skipped', 'cancelled')
    WHERE r.status IN ('failed', 'partial')`,
  // records_per_s divides by the time spent committing pages, not by wall time: several runs of one
  // entity on one day would otherwise count the idle time between them.
  sql`CREATE OR REPLACE VIEW sync_throughput_daily AS
    SELECT p.org_id, p.adapter, p.entity, date_trunc('day', p.committed_at) AS day,
      count(*)::bigint AS pages,
      sum(p.records)::bigint AS records,
      sum(p.inserted)::bigint AS inserted,
      sum(p.updated)::bigint AS updated,
      sum(p.dead_letters)::bigint AS dead_letters,
      sum(p.duration_ms)::bigint AS busy_ms,
      round(sum(p.records) * 1000.0 / nullif(sum(p.duration_ms), 0), 1)::double precision AS records_per_s
    FROM sync_pages p
    GROUP BY p.org_id, p.adapter, p.entity, date_trunc('day', p.committed_at)`
])

/** Every tick of a cluster-wide schedule, wherever it fired: "fires once, not once per node" is checkable. */
const scheduleTicks = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`CREATE TABLE sync_schedule_ticks (
    id bigserial PRIMARY KEY,
    schedule text NOT NULL,
    org_id text NOT NULL,
    adapter text NOT NULL,
    sync_type text NOT NULL,
    node text NOT NULL,
    run_id text,
    outcome text NOT NULL,
    fired_at timestamptz NOT NULL DEFAULT now()
  )`.pipe(Effect.zipRight(sql`CREATE INDEX sync_schedule_ticks_schedule_idx ON sync_schedule_ticks (schedule, fired_at)`)))

/**
 * Whether a page had a next one when it was fetched: with its end (`cursor_to`, `key_to`), what a
 * page activity re-run after a crash needs to return the committed page instead of fetching it again.
 */
const pageHasMore = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`ALTER TABLE sync_pages ADD COLUMN has_more boolean NULL`)

/** Every migration, by `<id>_<name>`; append only, never edit one that has shipped. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_run_history": runHistory,
  "0002_watermarks_dead_letters_changes": stateAndLogs,
  "0003_history_views": views,
  "0004_schedule_ticks": scheduleTicks,
  "0005_page_has_more": pageHasMore
}

// `PgMigrator.run` is this same runner plus a pg_dump hook, which makes it require FileSystem, Path
// and CommandExecutor although we never dump a schema; `Migrator.make({})` needs only the SqlClient.
const runMigrator = Migrator.make({})

/**
 * Runs a set of migrations recorded in `table`. Idempotent and safe from several processes at once:
 * the whole run holds a transaction-scoped advisory lock (`lockKey` in Tidemark's lock space), and the
 * migrations table is created under it (the migrator's own create-if-missing is a check-then-create
 * race between processes). Returns the migrations applied by this call, `[id, name]`. Packages that
 * own tables of their own (the dashboard) run theirs with it, in a table of their own.
 */
export const runMigrations = (options: {
  readonly table: string
  /** Default: Tidemark's lock space. */
  readonly lockSpace?: number
  readonly lockKey: number
  readonly migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>>
  readonly label: string
}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(
      Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(${options.lockSpace ?? LockSpace}, ${options.lockKey})`
        yield* sql`CREATE TABLE IF NOT EXISTS ${sql(options.table)} (
          migration_id integer PRIMARY KEY,
          created_at timestamp with time zone NOT NULL DEFAULT now(),
          name text NOT NULL
        )`
        const applied = yield* runMigrator({ loader: Migrator.fromRecord(options.migrations), table: options.table })
        if (applied.length > 0) {
          yield* Effect.logInfo(`${options.label} applied`).pipe(
            Effect.annotateLogs("migrations", applied.map(([id, name]) => `${id}_${name}`).join(", "))
          )
        }
        return applied
      })
    )
  })

/** Brings the engine's tables up to date (see `runMigrations`). */
export const run = runMigrations({
  table: migrationsTable,
  lockKey: MigrationsLock,
  migrations,
  label: "migrations"
}).pipe(Effect.withSpan("Migrations.run"))
