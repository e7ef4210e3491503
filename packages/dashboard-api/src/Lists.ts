/**
 * The list endpoints' queries: incidents, changes and events of one org, filtered, newest first by
 * `(sys_updated_on, key)` and paged by keyset on that pair (each table has a partial index on
 * `(org_id, source_updated_at, key)` for it, see DashboardMigrations).
 */
import { SqlClient } from "@effect/sql"
import type { Fragment } from "@effect/sql/Statement"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import type { InvalidRequest } from "./ApiErrors.js"
import { INACTIVE_CHANGE_STATES, OPEN_INCIDENT_STATES } from "./ItsmVocabulary.js"
import { decodeCursor, DEFAULT_LIMIT, toPage } from "./ListParams.js"
import type { Change, Event, Incident } from "./Models.js"
import {
  changeColumns,
  type ChangeRow,
  eventColumns,
  type EventRow,
  incidentColumns,
  type IncidentRow,
  table,
  timestamptz as timestamp,
  toChange,
  toEvent,
  toIncident
} from "./Records.js"

export interface Paging {
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: string | null
}

const keysetPage = <Row extends { readonly key: string; readonly source_updated_at: Date | null }, Item>(
  options: {
    readonly table: string
    readonly columns: (sql: SqlClient.SqlClient, alias: string) => Fragment
    readonly orgId: string
    readonly filters: (sql: SqlClient.SqlClient) => ReadonlyArray<Fragment | false | undefined>
    readonly paging: Paging
    readonly toItem: (row: Row) => Item
  }
): Effect.Effect<Page<Item>, SqlError | InvalidRequest, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const limit = options.paging.limit ?? DEFAULT_LIMIT
    const after = options.paging.cursor === undefined
      ? Option.none()
      : Option.some(yield* decodeCursor(options.paging.cursor))
    const where = [
      sql`t.org_id = ${options.orgId}`,
      sql`t.deleted_at IS NULL`,
      // sys_updated_on is mandatory in the ITSM schema; a row without it could not be paged past.
      sql`t.source_updated_at IS NOT NULL`,
      ...options.filters(sql).filter((clause): clause is Fragment => clause !== false && clause !== undefined),
      ...Option.match(after, {
        onNone: () => [],
        onSome: (position) => [
          sql`(t.source_updated_at, t.key) < (${timestamp(sql, position.updatedOn)}, ${position.key})`
        ]
      })
    ]
    const rows = yield* sql<Row>`
      SELECT ${options.columns(sql, "t")} FROM ${sql(options.table)} t
      WHERE ${sql.and(where)}
      ORDER BY t.source_updated_at DESC, t.key DESC
      LIMIT ${limit + 1}`
    return toPage(
      rows,
      limit,
      (row) => (row.source_updated_at === null ? null : { updatedOn: row.source_updated_at, key: row.key }),
      options.toItem
    )
  })

export interface IncidentFilters extends Paging {
  readonly state?: number | undefined
  readonly priority?: number | undefined
  readonly cmdb_ci?: string | undefined
  readonly assignment_group?: string | undefined
  readonly open?: boolean | undefined
  readonly updated_since?: Date | undefined
}

export const incidents = (orgId: string, f: IncidentFilters) =>
  keysetPage<IncidentRow, Incident>({
    table: table("incident"),
    columns: incidentColumns,
    orgId,
    paging: f,
    toItem: toIncident,
    filters: (sql) => [
      f.state !== undefined && sql`t.state = ${f.state}`,
      f.priority !== undefined && sql`t.priority = ${f.priority}`,
      f.cmdb_ci !== undefined && sql`t.cmdb_ci = ${f.cmdb_ci}`,
      f.assignment_group !== undefined && sql`t.assignment_group = ${f.assignment_group}`,
      f.open === true && sql`t.state IN ${sql.in(OPEN_INCIDENT_STATES)}`,
      f.open === false && sql`(t.state IS NULL OR t.state NOT IN ${sql.in(OPEN_INCIDENT_STATES)})`,
      f.updated_since !== undefined && sql`t.source_updated_at >= ${timestamp(sql, f.updated_since)}`
    ]
  })

export interface ChangeFilters extends Paging {
  readonly state?: number | undefined
  readonly risk?: number | undefined
  readonly type?: string | undefined
  readonly cmdb_ci?: string | undefined
  readonly assignment_group?: string | undefined
  /** Only changes that are not Closed or Canceled. */
  readonly active?: boolean | undefined
  readonly start_from?: Date | undefined
  readonly start_to?: Date | undefined
  readonly updated_since?: Date | undefined
}

export const changes = (orgId: string, f: ChangeFilters) =>
  keysetPage<ChangeRow, Change>({
    table: table("change_request"),
    columns: changeColumns,
    orgId,
    paging: f,
    toItem: toChange,
    filters: (sql) => [
      f.state !== undefined && sql`t.state = ${f.state}`,
      f.risk !== undefined && sql`t.risk = ${f.risk}`,
      f.type !== undefined && sql`t.type = ${f.type}`,
      f.cmdb_ci !== undefined && sql`t.cmdb_ci = ${f.cmdb_ci}`,
      f.assignment_group !== undefined && sql`t.assignment_group = ${f.assignment_group}`,
      f.active === true && sql`coalesce(t.state, 0) NOT IN ${sql.in(INACTIVE_CHANGE_STATES)}`,
      f.active === false && sql`t.state IN ${sql.in(INACTIVE_CHANGE_STATES)}`,
      f.start_from !== undefined && sql`t.start_date >= ${timestamp(sql, f.start_from)}`,
      f.start_to !== undefined && sql`t.start_date < ${timestamp(sql, f.start_to)}`,
      f.updated_since !== undefined && sql`t.source_updated_at >= ${timestamp(sql, f.updated_since)}`
    ]
  })

export interface EventFilters extends Paging {
  readonly severity?: number | undefined
  readonly cmdb_ci?: string | undefined
  /** Events whose `time_of_event` is at or after this time. */
  readonly since?: Date | undefined
}

export const events = (orgId: string, f: EventFilters) =>
  keysetPage<EventRow, Event>({
    table: table("em_event"),
    columns: eventColumns,
    orgId,
    paging: f,
    toItem: toEvent,
    filters: (sql) => [
      f.severity !== undefined && sql`t.severity = ${f.severity}`,
      f.cmdb_ci !== undefined && sql`t.cmdb_ci = ${f.cmdb_ci}`,
      f.since !== undefined && sql`t.time_of_event >= ${timestamp(sql, f.since)}`
    ]
  })
