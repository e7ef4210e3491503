/**
 * The set-based, cursor-guarded upsert of records into a cache table with its change-log rows: the
 * core of `PageSink.write` and `PageSink.upsert`.
 */
import type { SqlClient } from "@effect/sql"
import type { Adapter } from "@tidemark/adapter-core"
import { Effect } from "effect"
import * as CacheTables from "../CacheTables.js"
import type { PreviousValues } from "./serverFeatures.js"

/**
 * One version per key, the one with the greatest cursor (the later one in the page on a tie):
 * Postgres refuses an `ON CONFLICT DO UPDATE` that touches one row twice.
 */
export const latestPerKey = <R extends Adapter.SourceRecord>(records: ReadonlyArray<R>): ReadonlyArray<R> => {
  const byKey = new Map<string, R>()
  for (const record of records) {
    const seen = byKey.get(record.key)
    if (seen === undefined || (seen.cursor?.getTime() ?? -Infinity) <= (record.cursor?.getTime() ?? -Infinity)) {
      byKey.set(record.key, record)
    }
  }
  return byKey.size === records.length ? records : [...byKey.values()]
}

export interface UpsertTarget {
  readonly orgId: string
  readonly adapter: string
  readonly runId: string | null
  readonly table: CacheTables.CacheTable
  /** How the change log gets the values the upsert replaced (see `serverFeatures`). */
  readonly previousValues: PreviousValues
}

/**
 * The bound rows of a page as a row source: the column list and one array parameter per column
 * (`ROWS FROM (unnest(...), ...)`). Shared with the benchmark's bare upsert, so both bind alike.
 */
export const rowsFrom = (sql: SqlClient.SqlClient, table: CacheTables.CacheTable, bound: CacheTables.BoundRows) => {
  const names = ["key", ...table.columns.map((column) => column.name), "source_updated_at", "raw"]
  const nameList = sql.csv(names.map((name) => sql`${sql(name)}`))
  const sources = sql.csv([
    sql`unnest(${bound.keys}::text[])`,
    ...table.columns.map((column, i) => sql`unnest(${bound.columns[i]}::${sql.literal(column.sqlType)}[])`),
    sql`unnest(${bound.cursors}::timestamptz[])`,
    sql`jsonb_array_elements(${bound.raws}::jsonb)`
  ])
  return { names, nameList, sources }
}

/**
 * The page's upsert. The guard makes it last-write-wins on the source's cursor: an older
 * version never overwrites a newer one and an identical re-delivery writes nothing, while a row
 * soft-deleted earlier comes back (logged as an insert).
 *
 * The change log needs, for an `update`, the live row it replaced. On PostgreSQL 18 the upsert
 * returns it (`RETURNING old.*`: the version it actually replaced, found by the same probe of the
 * primary key). Before 18, `before` reads the cache table inside the same statement, so it sees the
 * rows as they were before it (every part of a statement shares one snapshot). It is one
 * materialized lookup of the page's keys, not a subquery per written row: a statement is planned
 * once, and a full sync plans its first pages on a table without statistics, where Postgres chose
 * any `(org_id, …)` index, or a sequential scan, for the per-row lookup; as the other partitions
 * filled the table, that one statement scanned it again for every row (seen: one page running for
 * minutes). A lookup per page can at worst scan the table once; with statistics it is a primary-key
 * probe per key. (As a plain join, the planner hashed every row of the org on each page.)
 *
 * As common table expressions, the last of which, `changes`, holds the `op` of every row applied: to
 * be completed by a query that counts them (`upsertInto`), or by more expressions that record the
 * page in the same statement (`PageSink.write`).
 */
export const upsertExpressions = (sql: SqlClient.SqlClient, target: UpsertTarget, bound: CacheTables.BoundRows) => {
  const { orgId, table } = target
  const { nameList, sources } = rowsFrom(sql, table, bound)
  const assignments = sql.csv(
    [...table.columns.map((column) => column.name), "raw", "source_updated_at"].map((name) =>
      sql`${sql(name)} = EXCLUDED.${sql(name)}`
    )
  )
  const upsert = sql`
      INSERT INTO ${sql(table.name)} AS c (org_id, ${nameList})
      SELECT ${orgId}, ${nameList} FROM input
      ON CONFLICT (org_id, key) DO UPDATE SET ${assignments}, synced_at = now(), deleted_at = NULL
      WHERE (c.source_updated_at IS NULL
          AND (EXCLUDED.source_updated_at IS NOT NULL OR c.raw IS DISTINCT FROM EXCLUDED.raw OR c.deleted_at IS NOT NULL))
        OR c.source_updated_at < EXCLUDED.source_updated_at
        OR (c.source_updated_at = EXCLUDED.source_updated_at
          AND (c.raw IS DISTINCT FROM EXCLUDED.raw OR c.deleted_at IS NOT NULL))`
  // A soft-deleted row that comes back is logged as an insert: it had no live value to replace.
  const previous = target.previousValues === "returning"
    ? sql`previous AS (
      ${upsert}
      RETURNING c.key, c.raw, c.source_updated_at, CASE WHEN old.deleted_at IS NULL THEN old.raw END AS previous
    )`
    : sql`written AS (
      ${upsert}
      RETURNING c.key, c.raw, c.source_updated_at
    ),
    before AS MATERIALIZED (
      SELECT p.key, p.raw FROM ${sql(table.name)} p
      WHERE p.org_id = ${orgId} AND p.key = ANY(${bound.keys}::text[]) AND p.deleted_at IS NULL
    ),
    previous AS (
      SELECT w.key, w.raw, w.source_updated_at, b.raw AS previous
      FROM written w LEFT JOIN before b ON b.key = w.key
    )`
  return sql`
    input AS (
      SELECT * FROM ROWS FROM (${sources}) AS i (${nameList})
    ),
    ${previous},
    changes AS (
      INSERT INTO sync_changes (org_id, adapter, entity, key, op, previous, current, source_updated_at, run_id)
      SELECT ${orgId}, ${target.adapter}, ${table.entity}, key,
        CASE WHEN previous IS NULL THEN 'insert' ELSE 'update' END, previous, raw, source_updated_at, ${target.runId}
      FROM previous
      RETURNING op
    )`
}

const byKey = (a: Adapter.SourceRecord, b: Adapter.SourceRecord) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

/**
 * The page's records as the upsert binds them: one version per key, in key order. A page arrives in
 * cursor order, which scatters its keys over the primary key's index; in key order the upsert's
 * conflict checks walk that index from one end to the other.
 */
export const bindRecords = (table: CacheTables.CacheTable, records: ReadonlyArray<Adapter.SourceRecord>) =>
  CacheTables.bind(table, [...latestPerKey(records)].sort(byKey))

/** The upsert as a statement of its own, returning how many rows it inserted and updated. */
export const upsertInto = (sql: SqlClient.SqlClient, target: UpsertTarget, records: ReadonlyArray<Adapter.SourceRecord>) =>
  records.length === 0
    ? Effect.succeed({ inserted: 0, updated: 0 })
    : Effect.map(
      sql<{ inserted: number; updated: number }>`
        WITH ${upsertExpressions(sql, target, bindRecords(target.table, records))}
        SELECT count(*) FILTER (WHERE op = 'insert')::int AS inserted,
               count(*) FILTER (WHERE op = 'update')::int AS updated
        FROM changes`,
      (rows) => rows[0] ?? { inserted: 0, updated: 0 }
    )
