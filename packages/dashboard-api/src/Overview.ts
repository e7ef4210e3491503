/**
 * The dashboard overview. Counts that depend only on the cache's current state come from the
 * trigger-maintained counters (one primary-key range read); counts that depend on the time of the
 * request (events in the last 24 hours, changes in the next 24, incidents past their SLA target) are
 * index range queries over a short window. See docs/domain.md for the rules.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { ItsmEntities } from "@tidemark/itsm-adapter"
import { Effect } from "effect"
import * as DashboardCounters from "./DashboardCounters.js"
import {
  eventSeverities,
  HIGH_RISKS,
  INACTIVE_CHANGE_STATES,
  incidentStates,
  labelOf,
  OPEN_INCIDENT_STATES,
  priorities,
  PRIORITIES,
  SEVERITIES,
  slaTargetHours
} from "./ItsmVocabulary.js"
import type { Overview } from "./Models.js"
import { ADAPTER, changeColumns, type ChangeRow, table, timestamptz, toChange } from "./Records.js"

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** The value of a counter dimension: the raw choice value, "" for none. */
const dimensionValue = (dimension: string): number | null => (dimension === "" ? null : Number(dimension))

const byValue = (
  counters: ReturnType<typeof DashboardCounters.lookup>,
  metric: string,
  labels: Readonly<Record<number, string>>,
  always: ReadonlyArray<number>
) => {
  const seen = new Map<string, number>(always.map((value) => [String(value), 0]))
  for (const row of counters.dimensions(metric)) seen.set(row.dimension, row.value)
  return [...seen.entries()]
    .map(([dimension, count]) => {
      const value = dimensionValue(dimension)
      return { value, label: value === null ? "none" : labels[value] ?? dimension, count }
    })
    .sort((a, b) => (a.value ?? Infinity) - (b.value ?? Infinity))
}

/** Open, unflagged incidents per priority still within their SLA target at `asOf`. */
const withinSla = (sql: SqlClient.SqlClient, orgId: string, asOf: Date) => {
  const targets = PRIORITIES.map((priority) => ({
    priority,
    cutoff: new Date(asOf.getTime() - slaTargetHours[priority]! * HOUR).toISOString()
  }))
  // One index range per priority (dashboard_incident_open_sla_idx); the predicate repeats the
  // index's so the planner can use it.
  return sql<{ priority: number; within: number }>`
    SELECT t.priority, (
      SELECT count(*) FROM ${sql(table("incident"))} i
      WHERE i.org_id = ${orgId} AND i.deleted_at IS NULL AND i.state IN (1, 2, 3)
        AND i.made_sla IS DISTINCT FROM false AND i.priority = t.priority
        AND (i.opened_at >= t.cutoff OR i.opened_at IS NULL)
    )::int AS within
    FROM unnest(${targets.map((t) => t.priority)}::int[], ${targets.map((t) => t.cutoff)}::timestamptz[])
      AS t (priority, cutoff)`
}

const upcomingChanges = (sql: SqlClient.SqlClient, orgId: string, from: Date, to: Date) =>
  Effect.all({
    counts: sql<{ scheduled: number; high_risk: number }>`
      SELECT count(*)::int AS scheduled, count(*) FILTER (WHERE c.risk IN ${sql.in(HIGH_RISKS)})::int AS high_risk
      FROM ${sql(table("change_request"))} c
      WHERE c.org_id = ${orgId} AND c.deleted_at IS NULL
        AND c.start_date >= ${timestamptz(sql, from)} AND c.start_date < ${timestamptz(sql, to)}
        AND coalesce(c.state, 0) NOT IN ${sql.in(INACTIVE_CHANGE_STATES)}`,
    highRisk: sql<ChangeRow>`
      SELECT ${changeColumns(sql, "c")} FROM ${sql(table("change_request"))} c
      WHERE c.org_id = ${orgId} AND c.deleted_at IS NULL
        AND c.start_date >= ${timestamptz(sql, from)} AND c.start_date < ${timestamptz(sql, to)}
        AND coalesce(c.state, 0) NOT IN ${sql.in(INACTIVE_CHANGE_STATES)} AND c.risk IN ${sql.in(HIGH_RISKS)}
      ORDER BY c.start_date, c.key LIMIT 50`
  }, { concurrency: "unbounded" })

const recentEvents = (sql: SqlClient.SqlClient, orgId: string, from: Date, to: Date) =>
  sql<{ severity: number | null; count: number }>`
    SELECT e.severity::int AS severity, count(*)::int AS count FROM ${sql(table("em_event"))} e
    WHERE e.org_id = ${orgId} AND e.deleted_at IS NULL
      AND e.time_of_event > ${timestamptz(sql, from)} AND e.time_of_event <= ${timestamptz(sql, to)}
    GROUP BY e.severity`

interface FreshnessRow {
  readonly entity: string
  readonly watermark: Date | null
  readonly run_id: string | null
  readonly sync_type: string | null
  readonly status: string | null
  readonly started_at: Date | null
  readonly finished_at: Date | null
}

/**
 * Watermark and last entity run per entity. The last run is the latest started one, found through
 * `sync_entity_runs (entity, started_at DESC)`: a walk down from the newest, not a scan of history.
 */
const freshness = (sql: SqlClient.SqlClient, orgId: string, entities: ReadonlyArray<string>) =>
  sql<FreshnessRow>`
    SELECT e.entity, w.watermark, lr.run_id, lr.sync_type, lr.status, lr.started_at, lr.finished_at
    FROM unnest(${entities}::text[]) WITH ORDINALITY AS e (entity, ord)
    LEFT JOIN sync_watermarks w ON w.org_id = ${orgId} AND w.adapter = ${ADAPTER} AND w.entity = e.entity
    LEFT JOIN LATERAL (
      SELECT er.run_id, r.sync_type, er.status, er.started_at, er.finished_at
      FROM sync_entity_runs er JOIN sync_runs r ON r.run_id = er.run_id
      WHERE er.entity = e.entity AND er.started_at IS NOT NULL AND r.org_id = ${orgId} AND r.adapter = ${ADAPTER}
      ORDER BY er.started_at DESC LIMIT 1
    ) lr ON true
    ORDER BY e.ord`

export const overview = (orgId: string, asOf: Date): Effect.Effect<Overview, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const entities = ItsmEntities.itsmManifest.entities.map((entity) => entity.name)
    const changesTo = new Date(asOf.getTime() + DAY)
    const eventsFrom = new Date(asOf.getTime() - DAY)
    const read = yield* Effect.all({
      counters: DashboardCounters.read(orgId),
      within: withinSla(sql, orgId, asOf),
      changes: upcomingChanges(sql, orgId, asOf, changesTo),
      events: recentEvents(sql, orgId, eventsFrom, asOf),
      freshness: freshness(sql, orgId, entities)
    }, { concurrency: "unbounded" })
    const counters = DashboardCounters.lookup(read.counters)
    const M = DashboardCounters.Metric

    const openByPriority = byValue(counters, M.incidentOpenPriority, priorities, PRIORITIES)
    const open = openByPriority.reduce((sum, entry) => sum + entry.count, 0)
    const openByState = byValue(counters, M.incidentState, incidentStates, OPEN_INCIDENT_STATES)
      .filter((entry) => entry.value !== null && (OPEN_INCIDENT_STATES as ReadonlyArray<number>).includes(entry.value))

    const withinByPriority = new Map(read.within.map((row) => [row.priority, row.within]))
    const pastSlaByPriority = byValue(counters, M.incidentOpenSlaFlagged, priorities, PRIORITIES).map((entry) => {
      const unflagged = entry.value === null ? 0 : counters.value(M.incidentOpenSlaUnflagged, String(entry.value))
      const overdue = entry.value === null ? 0 : Math.max(0, unflagged - (withinByPriority.get(entry.value) ?? 0))
      return { ...entry, count: entry.count + overdue, overdue }
    })
    const flagged = pastSlaByPriority.reduce((sum, entry) => sum + entry.count - entry.overdue, 0)
    const overdue = pastSlaByPriority.reduce((sum, entry) => sum + entry.overdue, 0)

    const eventCounts = new Map<number | null, number>(SEVERITIES.map((severity) => [severity, 0]))
    for (const row of read.events) eventCounts.set(row.severity, (eventCounts.get(row.severity) ?? 0) + row.count)
    const bySeverity = [...eventCounts.entries()]
      .map(([value, count]) => ({ value, label: labelOf(eventSeverities, value) || "none", count }))
      .sort((a, b) => (a.value ?? Infinity) - (b.value ?? Infinity))

    return {
      orgId,
      asOf,
      incidents: {
        open,
        p1Open: counters.value(M.incidentOpenPriority, "1"),
        openByPriority,
        openByState,
        pastSla: {
          total: flagged + overdue,
          flagged,
          overdue,
          byPriority: pastSlaByPriority.map(({ count, label, value }) => ({ value, label, count }))
        }
      },
      changes: {
        windowStart: asOf,
        windowEnd: changesTo,
        scheduled: read.changes.counts[0]?.scheduled ?? 0,
        highRisk: read.changes.counts[0]?.high_risk ?? 0,
        highRiskChanges: read.changes.highRisk.map(toChange)
      },
      events: {
        windowStart: eventsFrom,
        windowEnd: asOf,
        total: read.events.reduce((sum, row) => sum + row.count, 0),
        bySeverity
      },
      freshness: read.freshness.map((row) => ({
        entity: row.entity,
        rows: counters.value(M.rows, row.entity),
        watermark: row.watermark,
        lagSeconds: row.watermark === null ? null : Math.round((asOf.getTime() - row.watermark.getTime()) / 1000),
        lastRun: row.run_id === null
          ? null
          : {
            runId: row.run_id,
            syncType: row.sync_type ?? "",
            status: row.status ?? "",
            startedAt: row.started_at,
            finishedAt: row.finished_at
          }
      }))
    }
  }).pipe(Effect.withSpan("Overview.overview", { attributes: { orgId } }))
