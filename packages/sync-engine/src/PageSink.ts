/**
 * Where a page of source records lands: one transaction upserts the page into its cache table
 * (last-write-wins on the source's cursor), logs every applied change, stores the invalid records as
 * dead letters, records the page in the run history and moves the entity's in-flight cursor and
 * watermark. Committing a page twice (an activity re-run after a crash) changes nothing.
 */
import { SqlClient } from "@effect/sql"
import type { Adapter, SourceError } from "@tidemark/adapter-core"
import { EntityDefinition, Manifest } from "@tidemark/adapter-core"
import { Clock, Effect, Option, Schema } from "effect"
import * as CacheTables from "./CacheTables.js"
import { latestPerKey, upsertInto } from "./internal/cacheUpsert.js"

type AnyEntityDefinition = EntityDefinition.AnyEntityDefinition

export { latestPerKey }

export class PageSinkError extends Schema.TaggedError<PageSinkError>()("PageSinkError", {
  operation: Schema.Literal("write", "upsert", "applyDeletions", "missingHardParents"),
  orgId: Schema.String,
  adapter: Schema.String,
  entity: Schema.String,
  table: Schema.String,
  runId: Schema.NullOr(Schema.String),
  pageNo: Schema.NullOr(Schema.Number),
  cause: Schema.Defect
}) {
  override get message() {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    const page = this.pageNo === null ? "" : ` page ${this.pageNo}`
    return `${this.operation} of ${this.adapter}/${this.orgId}/${this.entity}${page} (table ${this.table}` +
      `${this.runId === null ? "" : `, run ${this.runId}`}) failed: ${reason}`
  }
}

/** Parent records of an entity, fetched by key because the page references them and the cache lacks them. */
export interface ParentRecords {
  readonly entity: AnyEntityDefinition
  readonly records: ReadonlyArray<Adapter.SourceRecord>
}

/**
 * Keys of a hard parent that the cache lacks (from `missingHardParents`) or that the source itself does
 * not have (as `WriteInput.missingParents`). Without `field`, every hard reference to `parentEntity`.
 */
export interface MissingParents {
  readonly field?: string
  readonly parentEntity: string
  readonly keys: ReadonlyArray<string>
}

/** The services the sink needs. */
export type SinkContext = SqlClient.SqlClient

export interface WriteInput {
  readonly orgId: string
  readonly adapter: string
  readonly runId: string
  readonly entity: AnyEntityDefinition
  readonly pageNo: number
  readonly records: ReadonlyArray<Adapter.SourceRecord>
  readonly invalid: ReadonlyArray<SourceError.InvalidRecord>
  /** Position the page was fetched after; recorded in `sync_pages`. */
  readonly from: Option.Option<Adapter.Position>
  /** Position of the page's last record: the entity's new in-flight cursor. */
  readonly to: Option.Option<Adapter.Position>
  /** Runner that committed the page. */
  readonly node: string
  /** Delta: also move the watermark up to `to.cursor` (never down). */
  readonly advanceWatermark: boolean
  /** Missing hard parents fetched by key, upserted first in the same transaction. */
  readonly parents?: ReadonlyArray<ParentRecords>
  /** Hard parents the source lacks: recorded in `sync_missing_parents` for the records referencing them. */
  readonly missingParents?: ReadonlyArray<MissingParents>
  /** Time the page took end to end (fetch included); default: the time of this write. */
  readonly durationMs?: number
}

/** What a page did, over all its deliveries: a re-run adds nothing to `inserted` or `updated`. */
export interface PageCounts {
  readonly records: number
  readonly inserted: number
  readonly updated: number
  /** Records not applied: identical re-deliveries, older versions, duplicates within the page. */
  readonly unchanged: number
  readonly deadLetters: number
  /** How many times the page was committed (1 unless an activity was re-run). */
  readonly attempts: number
}

export interface UpsertInput {
  readonly orgId: string
  readonly adapter: string
  /** None for changes outside a run (a webhook). */
  readonly runId: Option.Option<string>
  readonly entity: AnyEntityDefinition
  readonly records: ReadonlyArray<Adapter.SourceRecord>
}

/**
 * The page upsert alone, without run history or cursors: for records that arrive outside a page (a
 * webhook). Same guard and change log as `write`.
 */
export const upsert = (
  input: UpsertInput
): Effect.Effect<{ readonly inserted: number; readonly updated: number }, PageSinkError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const table = CacheTables.describe(input.adapter, input.entity)
    const target = { orgId: input.orgId, adapter: input.adapter, runId: Option.getOrNull(input.runId), table }
    return yield* sql.withTransaction(upsertInto(sql, target, input.records)).pipe(
      Effect.mapError((cause) =>
        new PageSinkError({
          operation: "upsert",
          orgId: input.orgId,
          adapter: input.adapter,
          entity: input.entity.name,
          table: table.name,
          runId: target.runId,
          pageNo: null,
          cause
        })
      )
    )
  })

const recordDeadLetters = (sql: SqlClient.SqlClient, input: WriteInput) => {
  const keys = input.invalid.map((invalid) => invalid.key)
  const reasons = input.invalid.map((invalid) => invalid.reason)
  const raws = CacheTables.jsonText(input.invalid.map((invalid) => invalid.raw ?? null))
  // A re-run of the page replaces the dead letters of its earlier delivery rather than doubling them.
  return sql`
    WITH cleared AS (
      DELETE FROM sync_dead_letters
      WHERE run_id = ${input.runId} AND entity = ${input.entity.name} AND page_no = ${input.pageNo}
    )
    INSERT INTO sync_dead_letters (org_id, adapter, entity, run_id, page_no, key, reason, raw)
    SELECT ${input.orgId}, ${input.adapter}, ${input.entity.name}, ${input.runId}, ${input.pageNo}, d.key, d.reason, d.raw
    FROM ROWS FROM (unnest(${keys}::text[]), unnest(${reasons}::text[]), jsonb_array_elements(${raws}::jsonb))
      AS d (key, reason, raw)`
}

const hardReferences = (entity: AnyEntityDefinition) =>
  EntityDefinition.references(entity).filter((reference) => reference.kind === "hard")

const recordMissingParents = (sql: SqlClient.SqlClient, input: WriteInput) => {
  const missing = { keys: [] as Array<string>, fields: [] as Array<string>, parents: [] as Array<string>, parentKeys: [] as Array<string> }
  const references = hardReferences(input.entity)
  for (const group of input.missingParents ?? []) {
    const lacking = new Set(group.keys)
    const fields = references.filter((ref) =>
      ref.target === group.parentEntity && (group.field === undefined || ref.field === group.field)
    )
    for (const { field } of fields) {
      for (const record of input.records) {
        const parentKey = record.row[field]
        if (typeof parentKey === "string" && lacking.has(parentKey)) {
          missing.keys.push(record.key)
          missing.fields.push(field)
          missing.parents.push(group.parentEntity)
          missing.parentKeys.push(parentKey)
        }
      }
    }
  }
  const pageKeys = input.records.map((record) => record.key)
  // The page's records are the current truth about their parents: what they no longer lack is cleared.
  return Effect.gen(function*() {
    yield* sql`DELETE FROM sync_missing_parents
      WHERE org_id = ${input.orgId} AND adapter = ${input.adapter} AND entity = ${input.entity.name}
        AND key = ANY(${pageKeys}::text[])`
    if (missing.keys.length === 0) return
    yield* sql`
      INSERT INTO sync_missing_parents (org_id, adapter, entity, key, field, parent_entity, parent_key, run_id)
      SELECT DISTINCT ON (m.key, m.field) ${input.orgId}, ${input.adapter}, ${input.entity.name}, m.key, m.field,
        m.parent_entity, m.parent_key, ${input.runId}
      FROM unnest(${missing.keys}::text[], ${missing.fields}::text[], ${missing.parents}::text[],
        ${missing.parentKeys}::text[]) AS m (key, field, parent_entity, parent_key)
      ON CONFLICT (org_id, adapter, entity, key, field) DO UPDATE SET parent_entity = EXCLUDED.parent_entity,
        parent_key = EXCLUDED.parent_key, run_id = EXCLUDED.run_id, detected_at = now()`
  })
}

const recordPage = (
  sql: SqlClient.SqlClient,
  input: WriteInput,
  applied: { readonly inserted: number; readonly updated: number },
  durationMs: number
) => {
  const records = input.records.length
  const from = Option.getOrNull(input.from)
  const to = Option.getOrNull(input.to)
  return sql<{ records: number; inserted: number; updated: number; unchanged: number; dead_letters: number; attempts: number }>`
    INSERT INTO sync_pages (run_id, entity, page_no, org_id, adapter, records, inserted, updated, unchanged,
      dead_letters, cursor_from, key_from, cursor_to, key_to, node, duration_ms)
    VALUES (${input.runId}, ${input.entity.name}, ${input.pageNo}, ${input.orgId}, ${input.adapter}, ${records},
      ${applied.inserted}, ${applied.updated}, ${records - applied.inserted - applied.updated}, ${input.invalid.length},
      ${from?.cursor.toISOString() ?? null}::timestamptz, ${from?.key ?? null}, ${to?.cursor.toISOString() ?? null}::timestamptz,
      ${to?.key ?? null}, ${input.node}, ${Math.round(durationMs)})
    ON CONFLICT (run_id, entity, page_no) DO UPDATE SET
      records = EXCLUDED.records,
      inserted = sync_pages.inserted + EXCLUDED.inserted,
      updated = sync_pages.updated + EXCLUDED.updated,
      unchanged = greatest(EXCLUDED.records - sync_pages.inserted - EXCLUDED.inserted - sync_pages.updated - EXCLUDED.updated, 0),
      dead_letters = EXCLUDED.dead_letters,
      cursor_from = EXCLUDED.cursor_from, key_from = EXCLUDED.key_from,
      cursor_to = EXCLUDED.cursor_to, key_to = EXCLUDED.key_to,
      node = EXCLUDED.node, duration_ms = EXCLUDED.duration_ms,
      attempts = sync_pages.attempts + 1, committed_at = now()
    RETURNING records, inserted, updated, unchanged, dead_letters, attempts`
}

const moveCursor = (sql: SqlClient.SqlClient, input: WriteInput, to: Adapter.Position) => {
  const cursor = to.cursor.toISOString()
  // greatest() skips NULL: without `advanceWatermark` the watermark stays where it is.
  return sql`
    INSERT INTO sync_watermarks (org_id, adapter, entity, watermark, inflight_run_id, inflight_cursor, inflight_key)
    VALUES (${input.orgId}, ${input.adapter}, ${input.entity.name}, ${input.advanceWatermark ? cursor : null}::timestamptz,
      ${input.runId}, ${cursor}::timestamptz, ${to.key})
    ON CONFLICT (org_id, adapter, entity) DO UPDATE SET
      watermark = greatest(sync_watermarks.watermark, EXCLUDED.watermark),
      inflight_run_id = EXCLUDED.inflight_run_id,
      inflight_cursor = EXCLUDED.inflight_cursor,
      inflight_key = EXCLUDED.inflight_key,
      updated_at = now()`
}

/**
 * Commits one page in one transaction: parents first, then the page's upsert and change log, its dead
 * letters, missing parents, its `sync_pages` row and the entity's in-flight cursor (and watermark).
 * The cache tables must exist (`CacheTables.ensure`).
 */
export const write = (input: WriteInput): Effect.Effect<PageCounts, PageSinkError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const table = CacheTables.describe(input.adapter, input.entity)
    const started = yield* Clock.currentTimeMillis
    const counts = yield* sql.withTransaction(Effect.gen(function*() {
      for (const parent of input.parents ?? []) {
        const parentTable = CacheTables.describe(input.adapter, parent.entity)
        yield* upsertInto(sql, { orgId: input.orgId, adapter: input.adapter, runId: input.runId, table: parentTable }, parent.records)
      }
      // Its own span: the rest of the transaction is the page's bookkeeping, measured apart by bench:sync.
      const applied = yield* upsertInto(sql, { orgId: input.orgId, adapter: input.adapter, runId: input.runId, table }, input.records)
        .pipe(Effect.withSpan("PageSink.upsert", { attributes: { records: input.records.length } }))
      yield* recordDeadLetters(sql, input)
      if (input.records.length > 0 && hardReferences(input.entity).length > 0) yield* recordMissingParents(sql, input)
      if (Option.isSome(input.to)) yield* moveCursor(sql, input, input.to.value)
      const finished = yield* Clock.currentTimeMillis
      const [page] = yield* recordPage(sql, input, applied, input.durationMs ?? finished - started)
      return page!
    }))
    yield* Effect.logDebug("page committed").pipe(
      Effect.annotateLogs({ inserted: counts.inserted, updated: counts.updated, deadLetters: counts.dead_letters })
    )
    return {
      records: counts.records,
      inserted: counts.inserted,
      updated: counts.updated,
      unchanged: counts.unchanged,
      deadLetters: counts.dead_letters,
      attempts: counts.attempts
    }
  }).pipe(
    Effect.catchTag("SqlError", (cause) =>
      Effect.fail(
        new PageSinkError({
          operation: "write",
          orgId: input.orgId,
          adapter: input.adapter,
          entity: input.entity.name,
          table: CacheTables.tableName(input.adapter, input.entity.name),
          runId: input.runId,
          pageNo: input.pageNo,
          cause
        })
      )),
    Effect.annotateLogs({ run: input.runId, entity: input.entity.name, page: input.pageNo }),
    Effect.withSpan("PageSink.write", {
      attributes: { run: input.runId, entity: input.entity.name, page: input.pageNo, records: input.records.length }
    })
  )

export interface DeletionsInput {
  readonly orgId: string
  readonly adapter: string
  readonly runId: string
  readonly entity: AnyEntityDefinition
  readonly deletions: ReadonlyArray<{ readonly key: string; readonly deletedAt: Date }>
}

/**
 * Soft-deletes the rows the source reports deleted, with a `delete` change-log row each (previous: the
 * last raw record), in one transaction. A row whose cursor is after the deletion was re-created at
 * the source and stays. Returns how many rows were deleted by this call.
 */
export const applyDeletions = (input: DeletionsInput): Effect.Effect<number, PageSinkError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    if (input.deletions.length === 0) return 0
    const sql = yield* SqlClient.SqlClient
    const table = CacheTables.tableName(input.adapter, input.entity.name)
    const keys = input.deletions.map((deletion) => deletion.key)
    const deletedAt = input.deletions.map((deletion) => deletion.deletedAt.toISOString())
    const [row] = yield* sql.withTransaction(sql<{ deleted: number }>`
      WITH input AS (
        SELECT d.key, max(d.deleted_at) AS deleted_at
        FROM unnest(${keys}::text[], ${deletedAt}::timestamptz[]) AS d (key, deleted_at)
        GROUP BY d.key
      ),
      gone AS (
        UPDATE ${sql(table)} c SET deleted_at = i.deleted_at, synced_at = now()
        FROM input i
        WHERE c.org_id = ${input.orgId} AND c.key = i.key AND c.deleted_at IS NULL
          AND (c.source_updated_at IS NULL OR c.source_updated_at <= i.deleted_at)
        RETURNING c.key, c.raw, i.deleted_at
      ),
      changes AS (
        INSERT INTO sync_changes (org_id, adapter, entity, key, op, previous, current, source_updated_at, run_id)
        SELECT ${input.orgId}, ${input.adapter}, ${input.entity.name}, g.key, 'delete', g.raw, NULL, g.deleted_at, ${input.runId}
        FROM gone g
        RETURNING 1
      )
      SELECT count(*)::int AS deleted FROM changes`)
    yield* Effect.logDebug("deletions applied").pipe(
      Effect.annotateLogs({ reported: input.deletions.length, deleted: row?.deleted ?? 0 })
    )
    return row?.deleted ?? 0
  }).pipe(
    Effect.catchTag("SqlError", (cause) =>
      Effect.fail(
        new PageSinkError({
          operation: "applyDeletions",
          orgId: input.orgId,
          adapter: input.adapter,
          entity: input.entity.name,
          table: CacheTables.tableName(input.adapter, input.entity.name),
          runId: input.runId,
          pageNo: null,
          cause
        })
      )),
    Effect.annotateLogs({ run: input.runId, entity: input.entity.name }),
    Effect.withSpan("PageSink.applyDeletions", { attributes: { run: input.runId, entity: input.entity.name } })
  )

export interface MissingHardParentsInput {
  readonly orgId: string
  readonly adapter: string
  readonly manifest: Manifest.EntityManifest
  readonly entity: AnyEntityDefinition
  readonly records: ReadonlyArray<Adapter.SourceRecord>
}

/**
 * For each hard reference of the entity, the distinct referenced keys that the parent's cache lacks
 * (or holds soft-deleted): what to fetch by key before the page can be stored. Fields with nothing
 * missing are left out.
 */
export const missingHardParents = (
  input: MissingHardParentsInput
): Effect.Effect<ReadonlyArray<Required<MissingParents>>, PageSinkError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const hard = Manifest.referencesOf(input.manifest, input.entity.name).filter((ref) => ref.kind === "hard")
    const found: Array<Required<MissingParents>> = []
    for (const ref of hard) {
      const keys = new Set<string>()
      for (const record of input.records) {
        const value = record.row[ref.field]
        if (typeof value === "string" && value !== "") keys.add(value)
      }
      if (keys.size === 0) continue
      const parentTable = CacheTables.tableName(input.adapter, ref.target)
      const rows = yield* sql<{ key: string }>`
        SELECT k.key FROM unnest(${[...keys]}::text[]) AS k (key)
        WHERE NOT EXISTS (
          SELECT 1 FROM ${sql(parentTable)} p
          WHERE p.org_id = ${input.orgId} AND p.key = k.key AND p.deleted_at IS NULL
        )
        ORDER BY k.key`.pipe(
        Effect.mapError((cause) =>
          new PageSinkError({
            operation: "missingHardParents",
            orgId: input.orgId,
            adapter: input.adapter,
            entity: input.entity.name,
            table: parentTable,
            runId: null,
            pageNo: null,
            cause
          })
        )
      )
      if (rows.length > 0) found.push({ field: ref.field, parentEntity: ref.target, keys: rows.map((row) => row.key) })
    }
    return found
  }).pipe(Effect.withSpan("PageSink.missingHardParents", { attributes: { entity: input.entity.name } }))
