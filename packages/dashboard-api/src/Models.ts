/**
 * The records and reports the API serves, as schemas: the single source of the response bodies and of
 * the OpenAPI document. Records keep the ITSM field names (`sys_id`, `cmdb_ci`, `opened_at`) with typed
 * values, plus a few derived fields (`state_label`, `open`).
 */
import { Schema } from "effect"

const Timestamp = Schema.Date.annotations({
  description: "ISO 8601 date-time (UTC)",
  jsonSchema: { type: "string", format: "date-time" }
})
const NullableTimestamp = Schema.NullOr(Timestamp)
const NullableInt = Schema.NullOr(Schema.Int)
const Reference = Schema.NullOr(Schema.String).annotations({ description: "sys_id of the referenced record" })

export const Incident = Schema.Struct({
  sys_id: Schema.String,
  number: Schema.String,
  short_description: Schema.String,
  category: Schema.String,
  state: NullableInt,
  state_label: Schema.String,
  open: Schema.Boolean,
  priority: NullableInt,
  priority_label: Schema.String,
  impact: NullableInt,
  urgency: NullableInt,
  caller_id: Reference,
  cmdb_ci: Reference,
  assignment_group: Reference,
  assigned_to: Reference,
  problem_id: Reference,
  caused_by: Reference,
  opened_at: NullableTimestamp,
  resolved_at: NullableTimestamp,
  closed_at: NullableTimestamp,
  reopen_count: NullableInt,
  made_sla: Schema.NullOr(Schema.Boolean),
  sys_updated_on: NullableTimestamp
}).annotations({ identifier: "Incident" })
export type Incident = typeof Incident.Type

export const Change = Schema.Struct({
  sys_id: Schema.String,
  number: Schema.String,
  short_description: Schema.String,
  state: NullableInt,
  state_label: Schema.String,
  type: Schema.String,
  risk: NullableInt,
  risk_label: Schema.String,
  impact: NullableInt,
  priority: NullableInt,
  cmdb_ci: Reference,
  assignment_group: Reference,
  requested_by: Reference,
  start_date: NullableTimestamp,
  end_date: NullableTimestamp,
  sys_updated_on: NullableTimestamp
}).annotations({ identifier: "Change" })
export type Change = typeof Change.Type

export const Event = Schema.Struct({
  sys_id: Schema.String,
  source: Schema.String,
  node: Schema.String,
  type: Schema.String,
  resource: Schema.String,
  description: Schema.String,
  severity: NullableInt,
  severity_label: Schema.String,
  state: Schema.String,
  cmdb_ci: Reference,
  time_of_event: NullableTimestamp,
  message_key: Schema.String,
  sys_updated_on: NullableTimestamp
}).annotations({ identifier: "Event" })
export type Event = typeof Event.Type

export const ConfigurationItem = Schema.Struct({
  sys_id: Schema.String,
  name: Schema.String,
  sys_class_name: Schema.String,
  operational_status: NullableInt,
  environment: Schema.String,
  business_criticality: Schema.String,
  u_depends_on: Schema.NullOr(Schema.String)
}).annotations({ identifier: "ConfigurationItem" })
export type ConfigurationItem = typeof ConfigurationItem.Type

const page = <A, I>(item: Schema.Schema<A, I>, identifier: string) =>
  Schema.Struct({
    items: Schema.Array(item),
    nextCursor: Schema.NullOr(Schema.String).annotations({
      description: "Pass as `cursor` for the next page; null on the last page"
    })
  }).annotations({ identifier })

export const IncidentPage = page(Incident, "IncidentPage")
export const ChangePage = page(Change, "ChangePage")
export const EventPage = page(Event, "EventPage")

// ---------------------------------------------------------------------------------------------------
// Overview

const Count = Schema.Int.pipe(Schema.nonNegative())

const ValueCount = (valueName: string, identifier: string) =>
  Schema.Struct({
    value: NullableInt.annotations({ description: valueName }),
    label: Schema.String,
    count: Count
  }).annotations({ identifier })

export const PriorityCount = ValueCount("priority (null: none)", "PriorityCount")
export const StateCount = ValueCount("incident state", "StateCount")
export const SeverityCount = ValueCount("event severity", "SeverityCount")

export const LastRun = Schema.Struct({
  runId: Schema.String,
  syncType: Schema.String,
  status: Schema.String,
  startedAt: NullableTimestamp,
  finishedAt: NullableTimestamp
}).annotations({ identifier: "LastEntityRun" })

export const EntityFreshness = Schema.Struct({
  entity: Schema.String,
  rows: Count.annotations({ description: "live rows in the cache" }),
  watermark: NullableTimestamp.annotations({ description: "the source cursor synced up to (null: never synced)" }),
  lagSeconds: Schema.NullOr(Schema.Number).annotations({ description: "asOf − watermark, in seconds" }),
  lastRun: Schema.NullOr(LastRun)
}).annotations({ identifier: "EntityFreshness" })

export const Overview = Schema.Struct({
  orgId: Schema.String,
  asOf: Timestamp,
  incidents: Schema.Struct({
    open: Count,
    p1Open: Count,
    openByPriority: Schema.Array(PriorityCount),
    openByState: Schema.Array(StateCount),
    pastSla: Schema.Struct({
      total: Count,
      flagged: Count.annotations({ description: "open with made_sla = false" }),
      overdue: Count.annotations({ description: "open longer than the priority's SLA target, not flagged" }),
      byPriority: Schema.Array(PriorityCount)
    })
  }),
  changes: Schema.Struct({
    windowStart: Timestamp,
    windowEnd: Timestamp,
    scheduled: Count,
    highRisk: Count,
    highRiskChanges: Schema.Array(Change).annotations({ description: "the first 50 by start_date" })
  }),
  events: Schema.Struct({
    windowStart: Timestamp,
    windowEnd: Timestamp,
    total: Count,
    bySeverity: Schema.Array(SeverityCount)
  }),
  freshness: Schema.Array(EntityFreshness)
}).annotations({ identifier: "Overview" })
export type Overview = typeof Overview.Type

// ---------------------------------------------------------------------------------------------------
// Risk

const factor = <Name extends string, F extends Schema.Struct.Fields>(name: Name, evidence: F) =>
  Schema.Struct({
    factor: Schema.Literal(name),
    points: Count,
    maxPoints: Count,
    rule: Schema.String.annotations({ description: "how the points follow from the evidence" }),
    evidence: Schema.Struct(evidence)
  }).annotations({ identifier: `RiskFactor_${name}` })

const IncidentRef = Schema.Struct({
  sys_id: Schema.String,
  number: Schema.String,
  priority: NullableInt,
  opened_at: NullableTimestamp
})
const ChangeRef = Schema.Struct({
  sys_id: Schema.String,
  number: Schema.String,
  risk: NullableInt,
  start_date: NullableTimestamp,
  end_date: NullableTimestamp
})
const EventRef = Schema.Struct({
  sys_id: Schema.String,
  severity: NullableInt,
  time_of_event: NullableTimestamp,
  message_key: Schema.String
})

export const RiskFactor = Schema.Union(
  factor("priority", { priority: NullableInt }),
  factor("ci_open_incidents", { cmdb_ci: Reference, count: Count, incidents: Schema.Array(IncidentRef) }),
  factor("nearby_changes", {
    cmdb_ci: Reference,
    windowStart: NullableTimestamp,
    windowEnd: NullableTimestamp,
    count: Count,
    changes: Schema.Array(ChangeRef)
  }),
  factor("critical_events", {
    cmdb_ci: Reference,
    since: Timestamp,
    count: Count,
    events: Schema.Array(EventRef)
  }),
  factor("sla_age", {
    open: Schema.Boolean,
    made_sla: Schema.NullOr(Schema.Boolean),
    ageHours: Schema.NullOr(Schema.Number),
    targetHours: Schema.NullOr(Schema.Number)
  }),
  factor("reopens", { reopen_count: NullableInt })
)
export type RiskFactor = typeof RiskFactor.Type

export const RiskLevel = Schema.Literal("low", "medium", "high", "critical")
export type RiskLevel = typeof RiskLevel.Type

export const IncidentRisk = Schema.Struct({
  incident: IncidentRef,
  asOf: Timestamp,
  score: Schema.Int.pipe(Schema.between(0, 100)),
  level: RiskLevel,
  factors: Schema.Array(RiskFactor)
}).annotations({ identifier: "IncidentRisk" })
export type IncidentRisk = typeof IncidentRisk.Type

// ---------------------------------------------------------------------------------------------------
// Impact

const listOf = <A, I>(item: Schema.Schema<A, I>) =>
  Schema.Struct({ count: Count, items: Schema.Array(item).annotations({ description: "at most 100" }) })

export const Dependent = Schema.Struct({
  sys_id: Schema.String,
  name: Schema.String,
  sys_class_name: Schema.String,
  u_depends_on: Schema.String,
  depth: Schema.Int.pipe(Schema.between(1, 3))
}).annotations({ identifier: "DependentItem" })

export const ChangeImpact = Schema.Struct({
  change: Change,
  asOf: Timestamp,
  configurationItem: Schema.NullOr(ConfigurationItem),
  openIncidents: listOf(Incident),
  recentEvents: Schema.Struct({ since: Timestamp, count: Count, items: Schema.Array(Event) }),
  dependents: listOf(Dependent),
  collisions: listOf(Change)
}).annotations({ identifier: "ChangeImpact" })
export type ChangeImpact = typeof ChangeImpact.Type
