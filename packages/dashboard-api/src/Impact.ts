/**
 * The impact of a change on its configuration item: the item's open incidents, its events of the last
 * 24 hours, the items that depend on it (transitively, up to three levels), and the other changes on
 * the item whose windows overlap this one (collisions).
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import { findChange } from "./Details.js"
import { INACTIVE_CHANGE_STATES, OPEN_INCIDENT_STATES } from "./ItsmVocabulary.js"
import type { ChangeImpact } from "./Models.js"
import {
  changeColumns,
  type ChangeRow,
  type ConfigurationItemRow,
  eventColumns,
  type EventRow,
  incidentColumns,
  type IncidentRow,
  table,
  timestamptz,
  toChange,
  toConfigurationItem,
  toEvent,
  toIncident
} from "./Records.js"

const HOUR = 3_600_000
export const MAX_DEPENDENCY_DEPTH = 3
const MAX_ITEMS = 100

type Counted<Row> = Row & { readonly total: number }

interface DependentRow {
  readonly key: string
  readonly name: string
  readonly sys_class_name: string
  readonly u_depends_on: string
  readonly depth: number
}

const counted = <Row, Item>(rows: ReadonlyArray<Counted<Row>>, toItem: (row: Row) => Item) => ({
  count: rows[0]?.total ?? 0,
  items: rows.map(toItem)
})

export const impactOf = (
  orgId: string,
  id: string,
  asOf: Date
): Effect.Effect<Option.Option<ChangeImpact>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const found = yield* findChange(orgId, id)
    if (Option.isNone(found)) return Option.none()
    const change = found.value
    const since = new Date(asOf.getTime() - 24 * HOUR)
    const ci = change.cmdb_ci
    if (ci === null) {
      return Option.some({
        change: toChange(change),
        asOf,
        configurationItem: null,
        openIncidents: { count: 0, items: [] },
        recentEvents: { since, count: 0, items: [] },
        dependents: { count: 0, items: [] },
        collisions: { count: 0, items: [] }
      })
    }
    const sql = yield* SqlClient.SqlClient
    const read = yield* Effect.all({
      item: sql<ConfigurationItemRow>`
        SELECT key, name, sys_class_name, operational_status::int AS operational_status, environment,
          business_criticality, u_depends_on
        FROM ${sql(table("cmdb_ci"))} WHERE org_id = ${orgId} AND key = ${ci} AND deleted_at IS NULL`,
      incidents: sql<Counted<IncidentRow>>`
        SELECT ${incidentColumns(sql, "t")}, count(*) OVER ()::int AS total FROM ${sql(table("incident"))} t
        WHERE t.org_id = ${orgId} AND t.cmdb_ci = ${ci} AND t.deleted_at IS NULL
          AND t.state IN ${sql.in(OPEN_INCIDENT_STATES)}
        ORDER BY t.priority NULLS LAST, t.opened_at, t.key LIMIT ${MAX_ITEMS}`,
      events: sql<Counted<EventRow>>`
        SELECT ${eventColumns(sql, "t")}, count(*) OVER ()::int AS total FROM ${sql(table("em_event"))} t
        WHERE t.org_id = ${orgId} AND t.cmdb_ci = ${ci} AND t.deleted_at IS NULL
          AND t.time_of_event > ${timestamptz(sql, since)} AND t.time_of_event <= ${timestamptz(sql, asOf)}
        ORDER BY t.time_of_event DESC, t.key LIMIT ${MAX_ITEMS}`,
      // Breadth first from the item, each dependant at its shortest depth; `UNION` (not ALL) plus
      // the depth bound keeps a cycle in the data from looping.
      dependents: sql<Counted<DependentRow>>`
        WITH RECURSIVE walk (key, depth) AS (
          SELECT c.key, 1 FROM ${sql(table("cmdb_ci"))} c
          WHERE c.org_id = ${orgId} AND c.u_depends_on = ${ci} AND c.deleted_at IS NULL
          UNION
          SELECT c.key, w.depth + 1 FROM walk w
          JOIN ${sql(table("cmdb_ci"))} c ON c.org_id = ${orgId} AND c.u_depends_on = w.key AND c.deleted_at IS NULL
          WHERE w.depth < ${MAX_DEPENDENCY_DEPTH}
        ),
        nearest AS (
          SELECT key, min(depth) AS depth FROM walk WHERE key <> ${ci} GROUP BY key
        )
        SELECT c.key, c.name, c.sys_class_name, c.u_depends_on, n.depth, count(*) OVER ()::int AS total
        FROM nearest n JOIN ${sql(table("cmdb_ci"))} c ON c.org_id = ${orgId} AND c.key = n.key
        ORDER BY n.depth, c.name, c.key LIMIT ${MAX_ITEMS}`,
      collisions: change.start_date === null ? Effect.succeed([]) : sql<Counted<ChangeRow>>`
        SELECT ${changeColumns(sql, "t")}, count(*) OVER ()::int AS total FROM ${sql(table("change_request"))} t
        WHERE t.org_id = ${orgId} AND t.cmdb_ci = ${ci} AND t.deleted_at IS NULL AND t.key <> ${change.key}
          AND coalesce(t.state, 0) NOT IN ${sql.in(INACTIVE_CHANGE_STATES)}
          AND t.start_date < ${timestamptz(sql, change.end_date ?? change.start_date)}
          AND coalesce(t.end_date, t.start_date) > ${timestamptz(sql, change.start_date)}
        ORDER BY t.start_date, t.key LIMIT ${MAX_ITEMS}`
    }, { concurrency: "unbounded" })
    return Option.some({
      change: toChange(change),
      asOf,
      configurationItem: read.item[0] === undefined ? null : toConfigurationItem(read.item[0]),
      openIncidents: counted(read.incidents, toIncident),
      recentEvents: { since, ...counted(read.events, toEvent) },
      dependents: counted(read.dependents, ({ depth, key, name, sys_class_name, u_depends_on }) => ({
        sys_id: key,
        name,
        sys_class_name,
        u_depends_on,
        depth
      })),
      collisions: counted(read.collisions, toChange)
    })
  }).pipe(Effect.withSpan("Impact.impactOf", { attributes: { orgId, id } }))
