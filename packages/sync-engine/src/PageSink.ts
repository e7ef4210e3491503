/**
 * Where a page of source records lands: one transaction upserts the page into its cache table
 * (last-write-wins on the source's cursor), logs every applied change, stores the invalid records as
 * dead letters, records the page in the run history and moves the entity's in-flight cursor and
 * watermark. Committing a page twice (an activity re-run after a crash) changes nothing.
 */
import { SqlClient } from "@effect/sql"
import type { Adapter, SourceError } from "@tidemark/adapter-core"
import { EntityDefinition, Manifest } from "@tidemark/adapter-core"
import { Effect, Option, Schema } from "effect"
import * as CacheTables from "./CacheTables.js"
import { latestPerKey, upsertInto } from "./internal/cacheUpsert.js"
import { reasonOf } from "./internal/errorReason.js"
import { type MissingRows, pageStatement } from "./internal/pageStatement.js"
import * as ServerFeatures from "./internal/serverFeatures.js"

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
    const reason = reasonOf(this.cause)
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
  /** Whether the source had a page after this one (recorded, for a re-run after a crash). */
  readonly hasMore?: boolean
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
    const runId = Option.getOrNull(input.runId)
    return yield* ServerFeatures.previousValues(sql).pipe(
      Effect.flatMap((previousValues) =>
        sql.withTransaction(upsertInto(sql, { orgId: input.orgId, adapter: input.adapter, runId, table, previousValues }, input.records))
      ),
      Effect.mapError((cause) =>
        new PageSinkError({
          operation: "upsert",
          orgId: input.orgId,
          adapter: input.adapter,
          entity: input.entity.name,
          table: table.name,
          runId,
          pageNo: null,
          cause
        })
      )
    )
  })

const hardReferences = (entity: AnyEntityDefinition) =>
  EntityDefinition.references(entity).filter((reference) => reference.kind === "hard")

/** The `(key, field)` pairs of the page's records whose hard parent the source lacks. */
const missingRows = (input: WriteInput): MissingRows => {
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
  return missing
}

/**
 * Commits one page: parents first, then in one statement the page's upsert and change log, its dead
 * letters, missing parents, its `sync_pages` row and the entity's in-flight cursor (and watermark);
 * a page with parents to store is one transaction of two statements or more. The cache tables must
 * exist (`CacheTables.ensure`).
 */
export const write = (input: WriteInput): Effect.Effect<PageCounts, PageSinkError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const table = CacheTables.describe(input.adapter, input.entity)
    const previousValues = yield* ServerFeatures.previousValues(sql)
    const statement = pageStatement(sql, table, {
      orgId: input.orgId,
      adapter: input.adapter,
      runId: input.runId,
      entity: input.entity.name,
      pageNo: input.pageNo,
      node: input.node,
      records: input.records,
      invalid: input.invalid,
      from: input.from,
      to: input.to,
      advanceWatermark: input.advanceWatermark,
      hasMore: input.hasMore,
      previousValues,
      missing: missingRows(input),
      hasHardReferences: hardReferences(input.entity).length > 0,
      durationMs: input.durationMs
    })
    const parents = input.parents ?? []
    const [counts] = parents.length === 0 ? yield* statement : yield* sql.withTransaction(Effect.gen(function*() {
      for (const parent of parents) {
        const parentTable = CacheTables.describe(input.adapter, parent.entity)
        yield* upsertInto(sql, { orgId: input.orgId, adapter: input.adapter, runId: input.runId, table: parentTable, previousValues }, parent.records)
      }
      return yield* statement
    }))
    if (counts === undefined) return yield* Effect.dieMessage("the page statement returned no row")
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
    const lookups = hard.flatMap((ref) => {
      const keys = new Set<string>()
      for (const record of input.records) {
        const value = record.row[ref.field]
        if (typeof value === "string" && value !== "") keys.add(value)
      }
      return keys.size === 0 ? [] : [{ ref, keys: [...keys], table: CacheTables.tableName(input.adapter, ref.target) }]
    })
    if (lookups.length === 0) return []
    // One statement for all the references: a round trip per page, not one per reference.
    const rows = yield* sql<{ ref: number; key: string }>`${
      sql.join(" UNION ALL ", false)(lookups.map((lookup, index) =>
        sql`SELECT ${index}::int AS ref, k.key FROM unnest(${lookup.keys}::text[]) AS k (key)
          WHERE NOT EXISTS (
            SELECT 1 FROM ${sql(lookup.table)} p
            WHERE p.org_id = ${input.orgId} AND p.key = k.key AND p.deleted_at IS NULL
          )`
      ))
    } ORDER BY 1, 2`.pipe(
      Effect.mapError((cause) =>
        new PageSinkError({
          operation: "missingHardParents",
          orgId: input.orgId,
          adapter: input.adapter,
          entity: input.entity.name,
          table: lookups.map((lookup) => lookup.table).join(", "),
          runId: null,
          pageNo: null,
          cause
        })
      )
    )
    return lookups.flatMap(({ ref }, index) => {
      const keys = rows.filter((row) => row.ref === index).map((row) => row.key)
      return keys.length === 0 ? [] : [{ field: ref.field, parentEntity: ref.target, keys }]
    })
  }).pipe(Effect.withSpan("PageSink.missingHardParents", { attributes: { entity: input.entity.name } }))
