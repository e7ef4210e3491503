/**
 * The risk of an incident: six factors, each worth a bounded number of points with the evidence that
 * earned them; the score is their sum capped at 100. The weights are constants here and in
 * docs/domain.md, so a score can always be explained by reading its factors.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import {
  CANCELED_CHANGE_STATE,
  CRITICAL_SEVERITY,
  isOpenIncidentState,
  slaTargetHours
} from "./ItsmVocabulary.js"
import type { IncidentRisk, RiskFactor, RiskLevel } from "./Models.js"
import { type IncidentRow, parseRecordId } from "./Records.js"

const HOUR = 3_600_000

export const Weights = {
  /** Points by priority; anything else (none, or unknown values) 0. */
  priority: { 1: 30, 2: 20, 3: 10, 4: 5, 5: 0 } as Readonly<Record<number, number>>,
  priorityMax: 30,
  /** Per other open incident on the same configuration item. */
  ciOpenIncidentEach: 5,
  ciOpenIncidentsMax: 20,
  /** Per change on the same item whose window comes within `nearbyChangeHours` of opened_at. */
  nearbyChangeEach: 10,
  nearbyChangesMax: 20,
  nearbyChangeHours: 72,
  /** Per critical event (severity 1) on the same item in the last `criticalEventHours`. */
  criticalEventEach: 5,
  criticalEventsMax: 15,
  criticalEventHours: 24,
  /** Past the SLA (or flagged made_sla = false) / past half of the target. */
  slaBreached: 15,
  slaHalfway: 7,
  /** Per reopen. */
  reopenEach: 5,
  reopensMax: 10
} as const

/** Levels by score: below 25 low, below 50 medium, below 75 high, else critical. */
export const levelOf = (score: number): RiskLevel =>
  score >= 75 ? "critical" : score >= 50 ? "high" : score >= 25 ? "medium" : "low"

type Evidence<Name extends RiskFactor["factor"]> = Extract<RiskFactor, { readonly factor: Name }>["evidence"]

/** What the factors are computed from: the incident and what the cache holds around it. */
export interface RiskInputs {
  readonly incident: IncidentRow
  readonly asOf: Date
  readonly otherOpenIncidents: { readonly count: number; readonly items: Evidence<"ci_open_incidents">["incidents"] }
  readonly nearbyChanges: { readonly count: number; readonly items: Evidence<"nearby_changes">["changes"] }
  readonly criticalEvents: { readonly count: number; readonly items: Evidence<"critical_events">["events"] }
}

const capped = (count: number, each: number, max: number) => Math.min(count * each, max)

/** The factors and score of an incident from what was read about it: pure, so it is tested alone. */
export const score = (inputs: RiskInputs): Omit<IncidentRisk, "incident"> => {
  const { asOf, incident } = inputs
  const priorityPoints = incident.priority === null ? 0 : Weights.priority[incident.priority] ?? 0
  const open = isOpenIncidentState(incident.state)
  const targetHours = incident.priority === null ? undefined : slaTargetHours[incident.priority]
  const ageHours = incident.opened_at === null
    ? null
    : Math.round(((asOf.getTime() - incident.opened_at.getTime()) / HOUR) * 10) / 10
  const slaPoints = incident.made_sla === false
    ? Weights.slaBreached
    : !open || ageHours === null || targetHours === undefined
    ? 0
    : ageHours >= targetHours
    ? Weights.slaBreached
    : ageHours >= targetHours / 2
    ? Weights.slaHalfway
    : 0
  const windowStart = incident.opened_at === null
    ? null
    : new Date(incident.opened_at.getTime() - Weights.nearbyChangeHours * HOUR)
  const windowEnd = incident.opened_at === null
    ? null
    : new Date(incident.opened_at.getTime() + Weights.nearbyChangeHours * HOUR)
  const factors: ReadonlyArray<RiskFactor> = [
    {
      factor: "priority",
      points: priorityPoints,
      maxPoints: Weights.priorityMax,
      rule: "P1 30, P2 20, P3 10, P4 5, P5 0",
      evidence: { priority: incident.priority }
    },
    {
      factor: "ci_open_incidents",
      points: capped(inputs.otherOpenIncidents.count, Weights.ciOpenIncidentEach, Weights.ciOpenIncidentsMax),
      maxPoints: Weights.ciOpenIncidentsMax,
      rule: "5 per other open incident on the same configuration item, at most 20",
      evidence: {
        cmdb_ci: incident.cmdb_ci,
        count: inputs.otherOpenIncidents.count,
        incidents: inputs.otherOpenIncidents.items
      }
    },
    {
      factor: "nearby_changes",
      points: capped(inputs.nearbyChanges.count, Weights.nearbyChangeEach, Weights.nearbyChangesMax),
      maxPoints: Weights.nearbyChangesMax,
      rule: "10 per change (not canceled) on the same item whose window overlaps opened_at ± 72 h, at most 20",
      evidence: {
        cmdb_ci: incident.cmdb_ci,
        windowStart,
        windowEnd,
        count: inputs.nearbyChanges.count,
        changes: inputs.nearbyChanges.items
      }
    },
    {
      factor: "critical_events",
      points: capped(inputs.criticalEvents.count, Weights.criticalEventEach, Weights.criticalEventsMax),
      maxPoints: Weights.criticalEventsMax,
      rule: "5 per critical event (severity 1) on the same item in the 24 h before asOf, at most 15",
      evidence: {
        cmdb_ci: incident.cmdb_ci,
        since: new Date(asOf.getTime() - Weights.criticalEventHours * HOUR),
        count: inputs.criticalEvents.count,
        events: inputs.criticalEvents.items
      }
    },
    {
      factor: "sla_age",
      points: slaPoints,
      maxPoints: Weights.slaBreached,
      rule: "15 when made_sla is false or an open incident is past its priority's SLA target " +
        "(P1 4 h, P2 8 h, P3 24 h, P4 72 h, P5 120 h); 7 past half of the target; else 0",
      evidence: { open, made_sla: incident.made_sla, ageHours, targetHours: targetHours ?? null }
    },
    {
      factor: "reopens",
      points: capped(incident.reopen_count ?? 0, Weights.reopenEach, Weights.reopensMax),
      maxPoints: Weights.reopensMax,
      rule: "5 per reopen, at most 10",
      evidence: { reopen_count: incident.reopen_count }
    }
  ]
  const total = Math.min(100, factors.reduce((sum, factor) => sum + factor.points, 0))
  return { asOf, score: total, level: levelOf(total), factors }
}

const EVIDENCE_ITEMS = 10

/** What `dashboard_incident_risk` returns: JSON, so timestamps are ISO strings and counts numbers. */
interface RiskRead {
  readonly incident: Record<string, unknown>
  readonly open_count: number
  readonly change_count: number
  readonly event_count: number
  readonly open_incidents: ReadonlyArray<Record<string, unknown>>
  readonly nearby_changes: ReadonlyArray<Record<string, unknown>>
  readonly critical_events: ReadonlyArray<Record<string, unknown>>
}

const dateOf = (value: unknown): Date | null => (typeof value === "string" ? new Date(value) : null)
const intOf = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value))

const incidentOf = (row: Record<string, unknown>): IncidentRow => ({
  key: String(row.key),
  number: String(row.number ?? ""),
  short_description: String(row.short_description ?? ""),
  category: String(row.category ?? ""),
  state: intOf(row.state),
  priority: intOf(row.priority),
  impact: intOf(row.impact),
  urgency: intOf(row.urgency),
  caller_id: (row.caller_id ?? null) as string | null,
  cmdb_ci: (row.cmdb_ci ?? null) as string | null,
  assignment_group: (row.assignment_group ?? null) as string | null,
  assigned_to: (row.assigned_to ?? null) as string | null,
  problem_id: (row.problem_id ?? null) as string | null,
  caused_by: (row.caused_by ?? null) as string | null,
  opened_at: dateOf(row.opened_at),
  resolved_at: dateOf(row.resolved_at),
  closed_at: dateOf(row.closed_at),
  reopen_count: intOf(row.reopen_count),
  made_sla: (row.made_sla ?? null) as boolean | null,
  source_updated_at: dateOf(row.source_updated_at)
})

/** The exact count, and the first rows as evidence. */
const evidence = <Item>(
  count: number,
  rows: ReadonlyArray<Record<string, unknown>>,
  item: (row: Record<string, unknown>) => Item
) => ({ count: Number(count), items: rows.map(item) })

/** The score of an incident from what `dashboard_incident_risk` read about it. */
const riskFrom = (read: RiskRead, asOf: Date): IncidentRisk => {
  const incident = incidentOf(read.incident)
  return {
    incident: {
      sys_id: incident.key,
      number: incident.number,
      priority: incident.priority,
      opened_at: incident.opened_at
    },
    ...score({
      incident,
      asOf,
      otherOpenIncidents: evidence(read.open_count, read.open_incidents, (r) => ({
        sys_id: String(r.sys_id),
        number: String(r.number ?? ""),
        priority: intOf(r.priority),
        opened_at: dateOf(r.opened_at)
      })),
      nearbyChanges: evidence(read.change_count, read.nearby_changes, (r) => ({
        sys_id: String(r.sys_id),
        number: String(r.number ?? ""),
        risk: intOf(r.risk),
        start_date: dateOf(r.start_date),
        end_date: dateOf(r.end_date)
      })),
      criticalEvents: evidence(read.event_count, read.critical_events, (r) => ({
        sys_id: String(r.sys_id),
        severity: intOf(r.severity),
        time_of_event: dateOf(r.time_of_event),
        message_key: String(r.message_key ?? "")
      }))
    })
  }
}

/** One incident's risk to compute: its org, its id (sys_id or number) and the time it is scored at. */
export interface RiskQuery {
  readonly orgId: string
  readonly id: string
  readonly asOf: Date
}

/**
 * The risks of several incidents, in the order asked; none where the id names nothing. The reads
 * are one statement, one call of `dashboard_incident_risk` (DashboardMigrations) per incident: the
 * incident by sys_id or number, then on its item the other open incidents, the changes around
 * opened_at and the critical events before `asOf`, each index-backed, each with its exact count and
 * its first rows. Asking for many at once (see `RiskBatches`) costs one round trip for all.
 */
export const risksOf = (
  queries: ReadonlyArray<RiskQuery>
): Effect.Effect<ReadonlyArray<Option.Option<IncidentRisk>>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const parsed = queries.map((query) => parseRecordId(query.id, "INC"))
    const valid = queries.flatMap((query, n) => {
      const id = parsed[n]
      return id === null ? [] : [{ query, id }]
    })
    if (valid.length === 0) return queries.map(() => Option.none())
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly risk: RiskRead | null }>`
      SELECT dashboard_incident_risk(q.org_id, q.id, q.by_number, q.as_of, ${CANCELED_CHANGE_STATE},
        ${CRITICAL_SEVERITY}, ${Weights.nearbyChangeHours}, ${Weights.criticalEventHours}, ${EVIDENCE_ITEMS}) AS risk
      FROM unnest(${valid.map((v) => v.query.orgId)}::text[], ${valid.map((v) => v.id.value)}::text[],
        ${valid.map((v) => v.id.by === "number")}::boolean[], ${valid.map((v) => v.query.asOf.toISOString())}::timestamptz[])
        WITH ORDINALITY AS q (org_id, id, by_number, as_of, ord)
      ORDER BY q.ord`
    const byQuery = new Map(valid.map((v, n) => {
      const read = rows[n]?.risk ?? null
      return [v.query, read === null ? Option.none() : Option.some(riskFrom(read, v.query.asOf))] as const
    }))
    return queries.map((query) => byQuery.get(query) ?? Option.none())
  }).pipe(Effect.withSpan("Risk.risksOf", { attributes: { count: queries.length }, captureStackTrace: false }))

/** One incident's risk (`risksOf` of one); none when the id names nothing. */
export const riskOf = (
  orgId: string,
  id: string,
  asOf: Date
): Effect.Effect<Option.Option<IncidentRisk>, SqlError, SqlClient.SqlClient> =>
  Effect.map(risksOf([{ orgId, id, asOf }]), (risks) => risks[0] ?? Option.none())
