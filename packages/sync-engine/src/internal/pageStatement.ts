/**
 * A page's records and its durable bookkeeping as one SQL statement: the upsert with its change log,
 * the page's dead letters, the hard parents its records lack, the entity's in-flight cursor (and a
 * delta's watermark) and the page's `sync_pages` row. One statement is one transaction of its own
 * and one round trip: written as separate statements in a transaction, the bookkeeping cost six
 * round trips per page (begin, four statements, commit), a third of the cost of a small page.
 *
 * Every part of a statement sees the same snapshot and no part may touch a row another part touches;
 * the parts below write disjoint rows.
 */
import type { SqlClient } from "@effect/sql"
import type { Statement } from "@effect/sql"
import type { Adapter, SourceError } from "@tidemark/adapter-core"
import { Option } from "effect"
import * as CacheTables from "../CacheTables.js"
import { bindRecords, upsertExpressions } from "./cacheUpsert.js"
import type { PreviousValues } from "./serverFeatures.js"

export interface PageBookkeeping {
  readonly orgId: string
  readonly adapter: string
  readonly runId: string
  readonly entity: string
  readonly pageNo: number
  readonly node: string
  readonly records: ReadonlyArray<Adapter.SourceRecord>
  readonly invalid: ReadonlyArray<SourceError.InvalidRecord>
  readonly from: Option.Option<Adapter.Position>
  readonly to: Option.Option<Adapter.Position>
  readonly advanceWatermark: boolean
  /** `(key, field)` of the page's records whose hard parent is missing, with the parent. */
  readonly missing: MissingRows
  /** Whether the entity has hard references at all (else no missing-parents bookkeeping). */
  readonly hasHardReferences: boolean
  /** How the upsert gets the values it replaced (see `serverFeatures`). */
  readonly previousValues: PreviousValues
  /** Whether the source had a next page; none: not known (a page fetched by key). */
  readonly hasMore: boolean | undefined
  /** Milliseconds to record as the page's duration; none: this statement's own. */
  readonly durationMs: number | undefined
}

export interface MissingRows {
  readonly keys: ReadonlyArray<string>
  readonly fields: ReadonlyArray<string>
  readonly parents: ReadonlyArray<string>
  readonly parentKeys: ReadonlyArray<string>
}

export interface PageRow {
  readonly records: number
  readonly inserted: number
  readonly updated: number
  readonly unchanged: number
  readonly dead_letters: number
  readonly attempts: number
}

/** A re-run of the page replaces the dead letters of its earlier delivery rather than doubling them. */
const deadLetters = (sql: SqlClient.SqlClient, page: PageBookkeeping): ReadonlyArray<Statement.Fragment> => {
  const cleared = sql`cleared_dead_letters AS (
      DELETE FROM sync_dead_letters
      WHERE run_id = ${page.runId} AND entity = ${page.entity} AND page_no = ${page.pageNo}
    )`
  if (page.invalid.length === 0) return [cleared]
  const keys = page.invalid.map((invalid) => invalid.key)
  const reasons = page.invalid.map((invalid) => invalid.reason)
  const raws = CacheTables.jsonText(page.invalid.map((invalid) => invalid.raw ?? null))
  return [
    cleared,
    sql`dead_letters AS (
      INSERT INTO sync_dead_letters (org_id, adapter, entity, run_id, page_no, key, reason, raw)
      SELECT ${page.orgId}, ${page.adapter}, ${page.entity}, ${page.runId}, ${page.pageNo}, d.key, d.reason, d.raw
      FROM ROWS FROM (unnest(${keys}::text[]), unnest(${reasons}::text[]), jsonb_array_elements(${raws}::jsonb))
        AS d (key, reason, raw)
    )`
  ]
}

/**
 * The page's records are the current truth about their parents: what they no longer lack is cleared,
 * what they lack is (re)recorded. The clearing spares the pairs recorded again, so that no row is
 * both deleted and updated by the statement.
 */
const missingParents = (sql: SqlClient.SqlClient, page: PageBookkeeping): ReadonlyArray<Statement.Fragment> => {
  if (!page.hasHardReferences || page.records.length === 0) return []
  const pageKeys = page.records.map((record) => record.key)
  const { fields, keys, parentKeys, parents } = page.missing
  if (keys.length === 0) {
    return [sql`cleared_missing AS (
      DELETE FROM sync_missing_parents
      WHERE org_id = ${page.orgId} AND adapter = ${page.adapter} AND entity = ${page.entity}
        AND key = ANY(${pageKeys}::text[])
    )`]
  }
  return [
    sql`lacking AS (
      SELECT DISTINCT ON (m.key, m.field) m.key, m.field, m.parent_entity, m.parent_key
      FROM unnest(${keys}::text[], ${fields}::text[], ${parents}::text[], ${parentKeys}::text[])
        AS m (key, field, parent_entity, parent_key)
    )`,
    sql`cleared_missing AS (
      DELETE FROM sync_missing_parents s
      WHERE s.org_id = ${page.orgId} AND s.adapter = ${page.adapter} AND s.entity = ${page.entity}
        AND s.key = ANY(${pageKeys}::text[])
        AND NOT EXISTS (SELECT 1 FROM lacking l WHERE l.key = s.key AND l.field = s.field)
    )`,
    sql`recorded_missing AS (
      INSERT INTO sync_missing_parents (org_id, adapter, entity, key, field, parent_entity, parent_key, run_id)
      SELECT ${page.orgId}, ${page.adapter}, ${page.entity}, l.key, l.field, l.parent_entity, l.parent_key, ${page.runId}
      FROM lacking l
      ON CONFLICT (org_id, adapter, entity, key, field) DO UPDATE SET parent_entity = EXCLUDED.parent_entity,
        parent_key = EXCLUDED.parent_key, run_id = EXCLUDED.run_id, detected_at = now()
    )`
  ]
}

/** greatest() skips NULL: without `advanceWatermark` the watermark stays where it is. */
const movedCursor = (sql: SqlClient.SqlClient, page: PageBookkeeping): ReadonlyArray<Statement.Fragment> => {
  if (Option.isNone(page.to)) return []
  const cursor = page.to.value.cursor.toISOString()
  return [sql`moved_cursor AS (
    INSERT INTO sync_watermarks (org_id, adapter, entity, watermark, inflight_run_id, inflight_cursor, inflight_key)
    VALUES (${page.orgId}, ${page.adapter}, ${page.entity}, ${page.advanceWatermark ? cursor : null}::timestamptz,
      ${page.runId}, ${cursor}::timestamptz, ${page.to.value.key})
    ON CONFLICT (org_id, adapter, entity) DO UPDATE SET
      watermark = greatest(sync_watermarks.watermark, EXCLUDED.watermark),
      inflight_run_id = EXCLUDED.inflight_run_id,
      inflight_cursor = EXCLUDED.inflight_cursor,
      inflight_key = EXCLUDED.inflight_key,
      updated_at = now()
  )`]
}

/** A re-run adds nothing to `inserted` or `updated`, and counts its attempt. */
const pageRow = (sql: SqlClient.SqlClient, page: PageBookkeeping) => {
  const records = page.records.length
  const from = Option.getOrNull(page.from)
  const to = Option.getOrNull(page.to)
  // Measured when this part runs, after the upsert whose counts it reads.
  const duration = page.durationMs === undefined
    ? sql`round(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::int`
    : sql`${Math.round(page.durationMs)}::int`
  return sql`page_row AS (
    INSERT INTO sync_pages (run_id, entity, page_no, org_id, adapter, records, inserted, updated, unchanged,
      dead_letters, cursor_from, key_from, cursor_to, key_to, has_more, node, duration_ms)
    SELECT ${page.runId}, ${page.entity}, ${page.pageNo}, ${page.orgId}, ${page.adapter}, ${records},
      a.inserted, a.updated, ${records} - a.inserted - a.updated, ${page.invalid.length},
      ${from?.cursor.toISOString() ?? null}::timestamptz, ${from?.key ?? null}, ${to?.cursor.toISOString() ?? null}::timestamptz,
      ${to?.key ?? null}, ${page.hasMore ?? null}::boolean, ${page.node}, ${duration}
    FROM applied a
    ON CONFLICT (run_id, entity, page_no) DO UPDATE SET
      records = EXCLUDED.records,
      inserted = sync_pages.inserted + EXCLUDED.inserted,
      updated = sync_pages.updated + EXCLUDED.updated,
      unchanged = greatest(EXCLUDED.records - sync_pages.inserted - EXCLUDED.inserted - sync_pages.updated - EXCLUDED.updated, 0),
      dead_letters = EXCLUDED.dead_letters,
      cursor_from = EXCLUDED.cursor_from, key_from = EXCLUDED.key_from,
      cursor_to = EXCLUDED.cursor_to, key_to = EXCLUDED.key_to, has_more = EXCLUDED.has_more,
      node = EXCLUDED.node, duration_ms = EXCLUDED.duration_ms,
      attempts = sync_pages.attempts + 1, committed_at = now()
    RETURNING records, inserted, updated, unchanged, dead_letters, attempts
  )`
}

/** The statement; it returns the page's `sync_pages` row as committed. */
export const pageStatement = (sql: SqlClient.SqlClient, table: CacheTables.CacheTable, page: PageBookkeeping) => {
  const upsert = page.records.length === 0
    ? [sql`applied AS (SELECT 0 AS inserted, 0 AS updated)`]
    : [
      upsertExpressions(
        sql,
        { orgId: page.orgId, adapter: page.adapter, runId: page.runId, table, previousValues: page.previousValues },
        bindRecords(table, page.records)
      ),
      sql`applied AS (
        SELECT count(*) FILTER (WHERE op = 'insert')::int AS inserted,
               count(*) FILTER (WHERE op = 'update')::int AS updated
        FROM changes
      )`
    ]
  const parts = [...upsert, ...deadLetters(sql, page), ...missingParents(sql, page), ...movedCursor(sql, page), pageRow(sql, page)]
  return sql<PageRow>`WITH ${sql.csv(parts)} SELECT * FROM page_row`
}
