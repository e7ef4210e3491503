/** One incident or change of an org, by sys_id or by display number. */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import { changeColumns, type ChangeRow, incidentColumns, type IncidentRow, parseRecordId, table } from "./Records.js"

export const findIncident = (
  orgId: string,
  id: string
): Effect.Effect<Option.Option<IncidentRow>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const parsed = parseRecordId(id, "INC")
    if (parsed === null) return Option.none()
    const sql = yield* SqlClient.SqlClient
    const match = parsed.by === "key" ? sql`t.key = ${parsed.value}` : sql`t.number = ${parsed.value}`
    // A number is unique at the source; should two rows share one, the latest update wins.
    const rows = yield* sql<IncidentRow>`
      SELECT ${incidentColumns(sql, "t")} FROM ${sql(table("incident"))} t
      WHERE t.org_id = ${orgId} AND t.deleted_at IS NULL AND ${match}
      ORDER BY t.source_updated_at DESC NULLS LAST LIMIT 1`
    return Option.fromNullable(rows[0])
  })

export const findChange = (
  orgId: string,
  id: string
): Effect.Effect<Option.Option<ChangeRow>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const parsed = parseRecordId(id, "CHG")
    if (parsed === null) return Option.none()
    const sql = yield* SqlClient.SqlClient
    const match = parsed.by === "key" ? sql`t.key = ${parsed.value}` : sql`t.number = ${parsed.value}`
    const rows = yield* sql<ChangeRow>`
      SELECT ${changeColumns(sql, "t")} FROM ${sql(table("change_request"))} t
      WHERE t.org_id = ${orgId} AND t.deleted_at IS NULL AND ${match}
      ORDER BY t.source_updated_at DESC NULLS LAST LIMIT 1`
    return Option.fromNullable(rows[0])
  })
