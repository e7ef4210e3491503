/**
 * The overview's counters: `dashboard_counters(org_id, metric, dimension, value)`, kept exact by a
 * statement-level trigger on the engine's change log. Every cache write of the page sink (upsert,
 * deletion, reconciliation, webhook) inserts its `sync_changes` rows in the same statement, so the
 * trigger runs inside the page's own transaction: a committed page and its counter deltas are one.
 *
 * What a record counts toward is one SQL function, `dashboard_metrics(entity, state, priority,
 * made_sla, severity)` over fields of the raw source record (the value the change log carries), used
 * both by the trigger (−1 for a change's `previous`, +1 for its `current`) and by `rebuild` (+1 per
 * live row), so the two can never disagree.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { ItsmEntities } from "@tidemark/itsm-adapter"
import { Effect } from "effect"
import { ADAPTER } from "./Records.js"
import { CacheTables } from "@tidemark/sync-engine"

/** The metrics the trigger maintains; the dimension is the raw value named ("" when empty or absent). */
export const Metric = {
  /** Live cache rows per entity (dimension: entity name). */
  rows: "rows",
  /** Live incidents per state. */
  incidentState: "incident.state",
  /** Open incidents (state 1, 2, 3) per priority. */
  incidentOpenPriority: "incident.open.priority",
  /** Open incidents with `made_sla = false`, per priority. */
  incidentOpenSlaFlagged: "incident.open.sla_flagged.priority",
  /** Open incidents with `made_sla` not false (true or empty), per priority. */
  incidentOpenSlaUnflagged: "incident.open.sla_unflagged.priority",
  /** Live changes per state. */
  changeState: "change.state",
  /** Live events per severity (all time; the overview's 24-hour window is a range query). */
  eventSeverity: "event.severity"
} as const

/**
 * The fields of a raw record that decide what it counts toward, as a select list over `raw`. Only
 * these are read from the jsonb, once per record.
 */
const countedFields = (raw: string) => `
  ${raw}->>'state' AS state, ${raw}->>'priority' AS priority,
  ${raw}->>'made_sla' AS made_sla, ${raw}->>'severity' AS severity`

/** `CREATE OR REPLACE` statements of the metric function and the trigger function. */
export const functions = (sql: SqlClient.SqlClient) => [
  sql`CREATE OR REPLACE FUNCTION dashboard_metrics(entity text, state text, priority text, made_sla text, severity text)
    RETURNS TABLE (metric text, dimension text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
      SELECT m.metric, coalesce(m.dimension, '')
      FROM (VALUES
        ('rows', entity, true),
        ('incident.state', state, entity = 'incident'),
        ('incident.open.priority', priority, entity = 'incident' AND state IN ('1', '2', '3')),
        ('incident.open.sla_flagged.priority', priority,
          entity = 'incident' AND state IN ('1', '2', '3') AND made_sla = 'false'),
        ('incident.open.sla_unflagged.priority', priority,
          entity = 'incident' AND state IN ('1', '2', '3') AND made_sla IS DISTINCT FROM 'false'),
        ('change.state', state, entity = 'change_request'),
        ('event.severity', severity, entity = 'em_event')
      ) AS m (metric, dimension, counts)
      WHERE m.counts
    $fn$`,
  // The change rows are first summed per distinct combination of the counted fields (a page of
  // thousands of changes is a few dozen groups), and only those groups are expanded into metrics.
  // Counter rows are upserted in key order: two page transactions of one entity (parallel
  // partitions of a full sync) then lock them in the same order and cannot deadlock. Zero net
  // deltas (an update that changed nothing counted) lock nothing.
  sql`CREATE OR REPLACE FUNCTION dashboard_count_changes() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    BEGIN
      INSERT INTO dashboard_counters AS d (org_id, metric, dimension, value)
      SELECT g.org_id, m.metric, m.dimension, sum(g.delta)
      FROM (
        SELECT v.org_id, v.entity, v.state, v.priority, v.made_sla, v.severity, sum(v.delta) AS delta
        FROM (
          SELECT c.org_id, c.entity, -1 AS delta, ${sql.literal(countedFields("c.previous"))} FROM changes c
          WHERE c.adapter = ${sql.literal(`'${ADAPTER}'`)} AND c.previous IS NOT NULL
          UNION ALL
          SELECT c.org_id, c.entity, 1 AS delta, ${sql.literal(countedFields("c.current"))} FROM changes c
          WHERE c.adapter = ${sql.literal(`'${ADAPTER}'`)} AND c.current IS NOT NULL
        ) v
        GROUP BY v.org_id, v.entity, v.state, v.priority, v.made_sla, v.severity
      ) g
      CROSS JOIN LATERAL dashboard_metrics(g.entity, g.state, g.priority, g.made_sla, g.severity) m
      GROUP BY g.org_id, m.metric, m.dimension
      HAVING sum(g.delta) <> 0
      ORDER BY g.org_id, m.metric, m.dimension
      ON CONFLICT (org_id, metric, dimension) DO UPDATE SET value = d.value + EXCLUDED.value;
      RETURN NULL;
    END
    $fn$`
]

const cacheTables = () =>
  ItsmEntities.itsmManifest.entities.map((entity) => ({
    entity: entity.name,
    table: CacheTables.tableName(ADAPTER, entity.name)
  }))

/**
 * Recomputes every counter from the live cache rows. Blocks writes to the change log while it runs
 * (so no page lands between the scan and the swap), then the trigger takes over again. The counters
 * never need it while the trigger is installed; it is for installing the trigger on a populated cache
 * and for a changed metric definition.
 */
export const rebuild: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.withTransaction(Effect.gen(function*() {
    yield* sql`LOCK TABLE sync_changes IN SHARE ROW EXCLUSIVE MODE`
    yield* sql`DELETE FROM dashboard_counters`
    const live = sql.join(" UNION ALL ", false)(
      cacheTables().map(({ entity, table }) =>
        sql`SELECT org_id, ${entity}::text AS entity, ${sql.literal(countedFields("raw"))}
            FROM ${sql(table)} WHERE deleted_at IS NULL`
      )
    )
    yield* sql`
      INSERT INTO dashboard_counters (org_id, metric, dimension, value)
      SELECT c.org_id, m.metric, m.dimension, count(*)
      FROM (${live}) c
      CROSS JOIN LATERAL dashboard_metrics(c.entity, c.state, c.priority, c.made_sla, c.severity) m
      GROUP BY c.org_id, m.metric, m.dimension`
  }))
}).pipe(Effect.withSpan("DashboardCounters.rebuild"))

export interface CounterRow {
  readonly metric: string
  readonly dimension: string
  readonly value: number
}

/** Every counter of an org: a primary-key range read, however large the cache. */
export const read = (orgId: string): Effect.Effect<ReadonlyArray<CounterRow>, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<CounterRow>`SELECT metric, dimension, value::int AS value FROM dashboard_counters
      WHERE org_id = ${orgId} AND value <> 0`)

/** A counter lookup over `read`'s rows. */
export const lookup = (rows: ReadonlyArray<CounterRow>) => {
  const byKey = new Map(rows.map((row) => [`${row.metric}\u0000${row.dimension}`, row.value]))
  return {
    value: (metric: string, dimension: string) => byKey.get(`${metric}\u0000${dimension}`) ?? 0,
    dimensions: (metric: string) => rows.filter((row) => row.metric === metric)
  }
}
