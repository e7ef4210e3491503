/**
 * What the API should answer, computed the plain way: aggregates over the typed cache columns,
 * written independently of the counters, the trigger and the API's own queries.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export const ENTITIES = ["sys_user_group", "sys_user", "cmdb_ci", "change_request", "problem", "em_event", "incident"]

const slaHours = (column: string) =>
  `CASE ${column} WHEN 1 THEN 4 WHEN 2 THEN 8 WHEN 3 THEN 24 WHEN 4 THEN 72 WHEN 5 THEN 120 END`

export const overviewTruth = (orgId: string, asOf: Date) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const at = asOf.toISOString()
    const [incidents] = yield* sql<{ open: number; p1: number; past_sla: number; flagged: number }>`
      SELECT count(*) FILTER (WHERE state IN (1, 2, 3))::int AS open,
        count(*) FILTER (WHERE state IN (1, 2, 3) AND priority = 1)::int AS p1,
        count(*) FILTER (WHERE state IN (1, 2, 3) AND (made_sla = false
          OR opened_at < ${at}::timestamptz - make_interval(hours => ${sql.literal(slaHours("priority"))})))::int AS past_sla,
        count(*) FILTER (WHERE state IN (1, 2, 3) AND made_sla = false)::int AS flagged
      FROM cache_itsm_incident WHERE org_id = ${orgId} AND deleted_at IS NULL`
    const byPriority = yield* sql<{ priority: number | null; n: number; past: number }>`
      SELECT priority::int AS priority, count(*)::int AS n,
        count(*) FILTER (WHERE made_sla = false
          OR opened_at < ${at}::timestamptz - make_interval(hours => ${sql.literal(slaHours("priority"))}))::int AS past
      FROM cache_itsm_incident WHERE org_id = ${orgId} AND deleted_at IS NULL AND state IN (1, 2, 3)
      GROUP BY priority`
    const byState = yield* sql<{ state: number; n: number }>`
      SELECT state::int AS state, count(*)::int AS n FROM cache_itsm_incident
      WHERE org_id = ${orgId} AND deleted_at IS NULL AND state IN (1, 2, 3) GROUP BY state`
    const [changes] = yield* sql<{ scheduled: number; high_risk: number }>`
      SELECT count(*)::int AS scheduled, count(*) FILTER (WHERE risk IN (1, 2))::int AS high_risk
      FROM cache_itsm_change_request
      WHERE org_id = ${orgId} AND deleted_at IS NULL AND state NOT IN (3, 4)
        AND start_date >= ${at}::timestamptz AND start_date < ${at}::timestamptz + interval '24 hours'`
    const events = yield* sql<{ severity: number; n: number }>`
      SELECT severity::int AS severity, count(*)::int AS n FROM cache_itsm_em_event
      WHERE org_id = ${orgId} AND deleted_at IS NULL
        AND time_of_event > ${at}::timestamptz - interval '24 hours' AND time_of_event <= ${at}::timestamptz
      GROUP BY severity`
    const rows: Record<string, number> = {}
    for (const entity of ENTITIES) {
      const [row] = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM ${sql(`cache_itsm_${entity}`)} WHERE org_id = ${orgId} AND deleted_at IS NULL`
      rows[entity] = row!.n
    }
    const watermarks = yield* sql<{ entity: string; watermark: Date | null }>`
      SELECT entity, watermark FROM sync_watermarks WHERE org_id = ${orgId} AND adapter = 'itsm'`
    return { incidents: incidents!, byPriority, byState, changes: changes!, events, rows, watermarks }
  })

export interface CounterRow {
  readonly org_id: string
  readonly metric: string
  readonly dimension: string
  readonly value: number
}

const sortCounters = (rows: ReadonlyArray<CounterRow>) =>
  [...rows].sort((a, b) =>
    `${a.org_id}|${a.metric}|${a.dimension}`.localeCompare(`${b.org_id}|${b.metric}|${b.dimension}`))

/** Every counter the trigger should hold, from the typed columns of the live rows. */
export const expectedCounters = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<CounterRow>`
    SELECT org_id, 'incident.state' AS metric, coalesce(state::text, '') AS dimension, count(*)::int AS value
      FROM cache_itsm_incident WHERE deleted_at IS NULL GROUP BY 1, 3
    UNION ALL
    SELECT org_id, 'incident.open.priority', coalesce(priority::text, ''), count(*)::int
      FROM cache_itsm_incident WHERE deleted_at IS NULL AND state IN (1, 2, 3) GROUP BY 1, 3
    UNION ALL
    SELECT org_id, 'incident.open.sla_flagged.priority', coalesce(priority::text, ''), count(*)::int
      FROM cache_itsm_incident WHERE deleted_at IS NULL AND state IN (1, 2, 3) AND made_sla = false GROUP BY 1, 3
    UNION ALL
    SELECT org_id, 'incident.open.sla_unflagged.priority', coalesce(priority::text, ''), count(*)::int
      FROM cache_itsm_incident WHERE deleted_at IS NULL AND state IN (1, 2, 3) AND made_sla IS DISTINCT FROM false
      GROUP BY 1, 3
    UNION ALL
    SELECT org_id, 'change.state', coalesce(state::text, ''), count(*)::int
      FROM cache_itsm_change_request WHERE deleted_at IS NULL GROUP BY 1, 3
    UNION ALL
    SELECT org_id, 'event.severity', coalesce(severity::text, ''), count(*)::int
      FROM cache_itsm_em_event WHERE deleted_at IS NULL GROUP BY 1, 3`
  const live: Array<CounterRow> = [...rows]
  for (const entity of ENTITIES) {
    const counts = yield* sql<{ org_id: string; value: number }>`
      SELECT org_id, count(*)::int AS value FROM ${sql(`cache_itsm_${entity}`)} WHERE deleted_at IS NULL GROUP BY org_id`
    for (const { org_id, value } of counts) live.push({ org_id, metric: "rows", dimension: entity, value })
  }
  return sortCounters(live)
})

/** The counters as the trigger keeps them (zeroes left out: a counter that went to 0 stays as a row). */
export const actualCounters = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return sortCounters(
    yield* sql<CounterRow>`
      SELECT org_id, metric, dimension, value::int AS value FROM dashboard_counters WHERE value <> 0`
  )
})
