/**
 * The ceiling `sync.full` is measured against: the rows the engine just stored, upserted again by a
 * bare single-statement `unnest` upsert into an identical fresh table (same columns, indexes and raw
 * `jsonb`), one statement (one commit) per page of the engine's page size. No source, no workflow, no
 * cursor guard, no change log, no history: what landing the rows costs and nothing else.
 *
 * The rows are read back from the cache in the order the engine wrote them (source cursor, then key),
 * so the bare table's indexes see the same insertion order; reading is not timed, binding the
 * parameters (`CacheTables.bind`, as the sink binds them) and the statement are.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as CacheTables from "../src/CacheTables.js"
import { rowsFrom } from "../src/internal/cacheUpsert.js"

const bareUpsert = (
  sql: SqlClient.SqlClient,
  orgId: string,
  target: string,
  table: CacheTables.CacheTable,
  bound: CacheTables.BoundRows
) => {
  const { nameList, names, sources } = rowsFrom(sql, table, bound)
  const assignments = sql.csv(
    names.slice(1).map((name) => sql`${sql(name)} = EXCLUDED.${sql(name)}`)
  )
  return sql`
    INSERT INTO ${sql(target)} (org_id, ${nameList})
    SELECT ${orgId}, * FROM ROWS FROM (${sources}) AS i (${nameList})
    ON CONFLICT (org_id, key) DO UPDATE SET ${assignments}, synced_at = now()`
}

export interface BareResult {
  readonly records: number
  readonly pages: number
  /** Time spent binding and upserting, summed over the pages. */
  readonly seconds: number
}

/** Copies the org's live rows of `table` into a fresh `LIKE … INCLUDING ALL` table, page by page, then drops it. */
export const bareUpsertCeiling = (options: {
  readonly orgId: string
  readonly table: CacheTables.CacheTable
  readonly pageSize: number
}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { orgId, pageSize, table } = options
    const target = `bench_bare_${table.entity}`
    yield* sql`DROP TABLE IF EXISTS ${sql(target)}`
    yield* sql`CREATE TABLE ${sql(target)} (LIKE ${sql(table.name)} INCLUDING ALL)`
    const selected = sql.csv(
      ["key", ...table.columns.map((column) => column.name), "source_updated_at", "raw"].map((name) => sql`${sql(name)}`)
    )
    let after: { readonly cursor: string; readonly key: string } | null = null
    let millis = 0
    let records = 0
    let pages = 0
    for (;;) {
      const position = after
      // The `>=` on the indexed column alone lets the index scan start at the position.
      const keyset = position === null ? sql`TRUE` : sql`source_updated_at >= ${position.cursor}::timestamptz
          AND (source_updated_at, key) > (${position.cursor}::timestamptz, ${position.key})`
      const rows: ReadonlyArray<Record<string, unknown>> = yield* sql`
        SELECT ${selected} FROM ${sql(table.name)}
        WHERE org_id = ${orgId} AND deleted_at IS NULL AND ${keyset}
        ORDER BY source_updated_at, key
        LIMIT ${pageSize}`
      if (rows.length === 0) break
      const started = performance.now()
      const bound = CacheTables.bind(
        table,
        rows.map((row) => ({
          key: row.key as string,
          cursor: row.source_updated_at as Date,
          row: Object.fromEntries(table.columns.map((column) => [column.field, row[column.name]])),
          raw: row.raw
        }))
      )
      yield* bareUpsert(sql, orgId, target, table, bound)
      millis += performance.now() - started
      records += rows.length
      pages += 1
      const last = rows[rows.length - 1]!
      after = { cursor: (last.source_updated_at as Date).toISOString(), key: last.key as string }
      if (rows.length < pageSize) break
    }
    // Gone again, so that what runs next on this database (the delta rounds) does not pay for it.
    yield* sql`DROP TABLE ${sql(target)}`
    const result: BareResult = { records, pages, seconds: millis / 1000 }
    return result
  })
