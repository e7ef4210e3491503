/**
 * Reading ITSM records out of the cache tables: the typed columns each record kind selects, and the
 * mapping from a row to the API's record. Integer columns are `bigint` in the cache (the driver
 * returns those as strings), so the selects cast them to `int`.
 */
import type { SqlClient } from "@effect/sql"
import { CacheTables } from "@tidemark/sync-engine"
import { TableApiAdapter } from "@tidemark/itsm-adapter"
import type { ConfigurationItem, Change, Event, Incident } from "./Models.js"
import {
  changeRisks,
  changeStates,
  eventSeverities,
  incidentStates,
  isOpenIncidentState,
  labelOf,
  priorities
} from "./ItsmVocabulary.js"

export const ADAPTER = TableApiAdapter.ADAPTER_NAME

/** The cache table of an ITSM entity (`cache_itsm_<entity>`). */
export const table = (entity: "incident" | "change_request" | "em_event" | "cmdb_ci") =>
  CacheTables.tableName(ADAPTER, entity)

export interface IncidentRow {
  readonly key: string
  readonly number: string
  readonly short_description: string
  readonly category: string
  readonly state: number | null
  readonly priority: number | null
  readonly impact: number | null
  readonly urgency: number | null
  readonly caller_id: string | null
  readonly cmdb_ci: string | null
  readonly assignment_group: string | null
  readonly assigned_to: string | null
  readonly problem_id: string | null
  readonly caused_by: string | null
  readonly opened_at: Date | null
  readonly resolved_at: Date | null
  readonly closed_at: Date | null
  readonly reopen_count: number | null
  readonly made_sla: boolean | null
  readonly source_updated_at: Date | null
}

/** The select list of an incident row, for a table aliased `alias`. */
export const incidentColumns = (sql: SqlClient.SqlClient, alias: string) => {
  const a = sql(alias)
  return sql`${a}.key, ${a}.number, ${a}.short_description, ${a}.category, ${a}.state::int AS state,
    ${a}.priority::int AS priority, ${a}.impact::int AS impact, ${a}.urgency::int AS urgency, ${a}.caller_id,
    ${a}.cmdb_ci, ${a}.assignment_group, ${a}.assigned_to, ${a}.problem_id, ${a}.caused_by, ${a}.opened_at,
    ${a}.resolved_at, ${a}.closed_at, ${a}.reopen_count::int AS reopen_count, ${a}.made_sla,
    ${a}.source_updated_at`
}

export const toIncident = (row: IncidentRow): Incident => ({
  sys_id: row.key,
  number: row.number,
  short_description: row.short_description,
  category: row.category,
  state: row.state,
  state_label: labelOf(incidentStates, row.state),
  open: isOpenIncidentState(row.state),
  priority: row.priority,
  priority_label: labelOf(priorities, row.priority),
  impact: row.impact,
  urgency: row.urgency,
  caller_id: row.caller_id,
  cmdb_ci: row.cmdb_ci,
  assignment_group: row.assignment_group,
  assigned_to: row.assigned_to,
  problem_id: row.problem_id,
  caused_by: row.caused_by,
  opened_at: row.opened_at,
  resolved_at: row.resolved_at,
  closed_at: row.closed_at,
  reopen_count: row.reopen_count,
  made_sla: row.made_sla,
  sys_updated_on: row.source_updated_at
})

export interface ChangeRow {
  readonly key: string
  readonly number: string
  readonly short_description: string
  readonly state: number | null
  readonly type: string
  readonly risk: number | null
  readonly impact: number | null
  readonly priority: number | null
  readonly cmdb_ci: string | null
  readonly assignment_group: string | null
  readonly requested_by: string | null
  readonly start_date: Date | null
  readonly end_date: Date | null
  readonly source_updated_at: Date | null
}

export const changeColumns = (sql: SqlClient.SqlClient, alias: string) => {
  const a = sql(alias)
  return sql`${a}.key, ${a}.number, ${a}.short_description, ${a}.state::int AS state, ${a}.type,
    ${a}.risk::int AS risk, ${a}.impact::int AS impact, ${a}.priority::int AS priority, ${a}.cmdb_ci,
    ${a}.assignment_group, ${a}.requested_by, ${a}.start_date, ${a}.end_date, ${a}.source_updated_at`
}

export const toChange = (row: ChangeRow): Change => ({
  sys_id: row.key,
  number: row.number,
  short_description: row.short_description,
  state: row.state,
  state_label: labelOf(changeStates, row.state),
  type: row.type,
  risk: row.risk,
  risk_label: labelOf(changeRisks, row.risk),
  impact: row.impact,
  priority: row.priority,
  cmdb_ci: row.cmdb_ci,
  assignment_group: row.assignment_group,
  requested_by: row.requested_by,
  start_date: row.start_date,
  end_date: row.end_date,
  sys_updated_on: row.source_updated_at
})

export interface EventRow {
  readonly key: string
  readonly source: string
  readonly node: string
  readonly type: string
  readonly resource: string
  readonly description: string
  readonly severity: number | null
  readonly state: string
  readonly cmdb_ci: string | null
  readonly time_of_event: Date | null
  readonly message_key: string
  readonly source_updated_at: Date | null
}

export const eventColumns = (sql: SqlClient.SqlClient, alias: string) => {
  const a = sql(alias)
  return sql`${a}.key, ${a}.source, ${a}.node, ${a}.type, ${a}.resource, ${a}.description,
    ${a}.severity::int AS severity, ${a}.state, ${a}.cmdb_ci, ${a}.time_of_event, ${a}.message_key,
    ${a}.source_updated_at`
}

export const toEvent = (row: EventRow): Event => ({
  sys_id: row.key,
  source: row.source,
  node: row.node,
  type: row.type,
  resource: row.resource,
  description: row.description,
  severity: row.severity,
  severity_label: labelOf(eventSeverities, row.severity),
  state: row.state,
  cmdb_ci: row.cmdb_ci,
  time_of_event: row.time_of_event,
  message_key: row.message_key,
  sys_updated_on: row.source_updated_at
})

export interface ConfigurationItemRow {
  readonly key: string
  readonly name: string
  readonly sys_class_name: string
  readonly operational_status: number | null
  readonly environment: string
  readonly business_criticality: string
  readonly u_depends_on: string | null
}

export const toConfigurationItem = (row: ConfigurationItemRow): ConfigurationItem => ({
  sys_id: row.key,
  name: row.name,
  sys_class_name: row.sys_class_name,
  operational_status: row.operational_status,
  environment: row.environment,
  business_criticality: row.business_criticality,
  u_depends_on: row.u_depends_on === "" ? null : row.u_depends_on
})

/**
 * A time as a statement parameter: an explicit UTC ISO string cast to timestamptz, whatever the
 * driver's date settings.
 */
export const timestamptz = (sql: SqlClient.SqlClient, date: Date) => sql`${date.toISOString()}::timestamptz`

const SYS_ID = /^[0-9a-f]{32}$/

/**
 * How a path id names a record: a sys_id, or a display number (`INC0001234`, `CHG…`; any case);
 * anything else names nothing.
 */
export const parseRecordId = (
  id: string,
  numberPrefix: string
): { readonly by: "key" | "number"; readonly value: string } | null =>
  SYS_ID.test(id)
    ? { by: "key", value: id }
    : new RegExp(`^${numberPrefix}\\d+$`, "i").test(id)
    ? { by: "number", value: id.toUpperCase() }
    : null
