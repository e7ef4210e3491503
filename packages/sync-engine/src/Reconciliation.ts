/**
 * Reconciliation: the source's full key set against the cache. Keys stream into a scratch table chunk
 * by chunk, so memory stays flat however many there are; an anti-join then soft-deletes what the source
 * no longer has and marks what must be fetched again (new at the source, or a different cursor).
 */
import { SqlClient } from "@effect/sql"
import type { Adapter, EntityDefinition } from "@tidemark/adapter-core"
import { Chunk, Effect, Option, Schema, type Scope, Stream } from "effect"
import { createHash } from "node:crypto"
import * as CacheTables from "./CacheTables.js"
import { reasonOf } from "./internal/errorReason.js"

export class ReconciliationError extends Schema.TaggedError<ReconciliationError>()("ReconciliationError", {
  step: Schema.Literal("scratch", "load", "compare", "refetch"),
  orgId: Schema.String,
  adapter: Schema.String,
  entity: Schema.String,
  runId: Schema.String,
  cause: Schema.Defect
}) {
  override get message() {
    const reason = reasonOf(this.cause)
    return `reconciliation of ${this.adapter}/${this.orgId}/${this.entity} (run ${this.runId}) failed at ${this.step}: ${reason}`
  }
}

export interface ReconcileOptions<E, R> {
  readonly orgId: string
  readonly adapter: string
  readonly runId: string
  readonly entity: EntityDefinition.AnyEntityDefinition
  /** Every key the source holds, with its cursor (`Adapter.streamKeys`). */
  readonly keys: Stream.Stream<Adapter.KeyAndCursor, E, R>
  /** Keys per insert into the scratch table. Default 10,000. */
  readonly chunkSize?: number
}

export interface ReconcileResult {
  /** Distinct keys the source listed. */
  readonly sourceKeys: number
  /** Cache rows soft-deleted because the source no longer has them. */
  readonly deleted: number
  /** Keys to fetch again: absent from the cache (or soft-deleted there), or with a different cursor. */
  readonly toRefetch: number
  /**
   * The keys to fetch again, in key order, `size` at a time, read from the scratch table: consume it
   * before the scope of `reconcile` closes (which drops the table).
   */
  readonly refetch: (size: number) => Stream.Stream<ReadonlyArray<string>, ReconciliationError, SqlClient.SqlClient>
}

/**
 * An unlogged table per run and entity rather than a temporary one: a temporary table lives in one
 * session, which would pin a connection (and an open transaction) for as long as the source takes to
 * list its keys. A re-run after a crash starts from a fresh one; the scope drops it.
 */
export const scratchTableName = (orgId: string, adapter: string, entity: string, runId: string) =>
  `sync_reconcile_${createHash("sha1").update(JSON.stringify([orgId, adapter, entity, runId])).digest("hex").slice(0, 20)}`

const latestCursorPerKey = (keys: Chunk.Chunk<Adapter.KeyAndCursor>) => {
  const byKey = new Map<string, string | null>()
  for (const { key, cursor } of keys) {
    const iso = cursor === undefined || Number.isNaN(cursor.getTime()) ? null : cursor.toISOString()
    const seen = byKey.get(key)
    // ISO strings of one format order as the times they denote.
    if (seen === undefined || (iso !== null && (seen === null || iso > seen))) byKey.set(key, iso)
  }
  return { keys: [...byKey.keys()], cursors: [...byKey.values()] }
}

/**
 * Compares the source's keys with the entity's cache. Rows the source no longer lists are soft-deleted
 * with a `delete` change-log row each, in one transaction, except rows written after the comparison
 * began (a webhook may store a record the key listing had already passed). Nothing is deleted if the
 * key stream fails. Re-fetch the returned keys and write them through `PageSink.write`.
 */
export const reconcile = <E, R>(
  options: ReconcileOptions<E, R>
): Effect.Effect<ReconcileResult, E | ReconciliationError, SqlClient.SqlClient | Scope.Scope | R> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { orgId, adapter, runId } = options
    const entity = options.entity.name
    const cache = CacheTables.tableName(adapter, entity)
    const scratch = scratchTableName(orgId, adapter, entity, runId)
    const failed = (step: ReconciliationError["step"]) => (cause: unknown) =>
      new ReconciliationError({ step, orgId, adapter, entity, runId, cause })

    yield* Effect.acquireRelease(
      Effect.zipRight(
        sql`DROP TABLE IF EXISTS ${sql(scratch)}`,
        sql`CREATE UNLOGGED TABLE ${sql(scratch)} (
          key text PRIMARY KEY,
          cursor timestamptz NULL,
          refetch boolean NOT NULL DEFAULT false
        )`
      ).pipe(Effect.mapError(failed("scratch"))),
      () => sql`DROP TABLE IF EXISTS ${sql(scratch)}`.pipe(Effect.ignore)
    )
    // The database's clock, the one `synced_at` is written with.
    const clock = yield* sql<{ started: Date }>`SELECT clock_timestamp() AS started`.pipe(
      Effect.mapError(failed("scratch"))
    )
    const started = clock[0]!.started

    yield* options.keys.pipe(
      Stream.grouped(options.chunkSize ?? 10_000),
      Stream.runForEach((chunk) => {
        const { cursors, keys } = latestCursorPerKey(chunk)
        return sql`
          INSERT INTO ${sql(scratch)} (key, cursor)
          SELECT * FROM unnest(${keys}::text[], ${cursors}::timestamptz[])
          ON CONFLICT (key) DO UPDATE SET cursor = greatest(${sql(scratch)}.cursor, EXCLUDED.cursor)`.pipe(
          Effect.mapError(failed("load"))
        )
      })
    )

    const counts = yield* sql.withTransaction(Effect.gen(function*() {
      // The planner knows nothing of a table filled a moment ago; without statistics it may pick a
      // nested loop over a million keys.
      yield* sql`ANALYZE ${sql(scratch)}`
      const [deleted] = yield* sql<{ count: number }>`
        WITH gone AS (
          UPDATE ${sql(cache)} c SET deleted_at = now(), synced_at = now()
          WHERE c.org_id = ${orgId} AND c.deleted_at IS NULL AND c.synced_at < ${started}
            AND NOT EXISTS (SELECT 1 FROM ${sql(scratch)} s WHERE s.key = c.key)
          RETURNING c.key, c.raw
        ),
        changes AS (
          INSERT INTO sync_changes (org_id, adapter, entity, key, op, previous, current, source_updated_at, run_id)
          SELECT ${orgId}, ${adapter}, ${entity}, g.key, 'delete', g.raw, NULL, NULL, ${runId} FROM gone g
          RETURNING 1
        )
        SELECT count(*)::int AS count FROM changes`
      const [marked] = yield* sql<{ count: number; total: number }>`
        WITH marked AS (
          UPDATE ${sql(scratch)} s SET refetch = true
          WHERE NOT EXISTS (
            SELECT 1 FROM ${sql(cache)} c
            WHERE c.org_id = ${orgId} AND c.key = s.key AND c.deleted_at IS NULL
              AND c.source_updated_at IS NOT DISTINCT FROM s.cursor
          )
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM marked)::int AS count, (SELECT count(*) FROM ${sql(scratch)})::int AS total`
      return { deleted: deleted?.count ?? 0, toRefetch: marked?.count ?? 0, sourceKeys: marked?.total ?? 0 }
    })).pipe(Effect.mapError(failed("compare")))

    yield* Effect.logInfo("reconciled").pipe(Effect.annotateLogs(counts))

    const refetch = (size: number) =>
      Stream.paginateChunkEffect(Option.none<string>(), (after) =>
        sql<{ key: string }>`
          SELECT key FROM ${sql(scratch)}
          WHERE refetch AND ${Option.match(after, { onNone: () => sql`TRUE`, onSome: (key) => sql`key > ${key}` })}
          ORDER BY key LIMIT ${Math.max(1, size)}`.pipe(
          Effect.map((rows) => {
            const keys = rows.map((row) => row.key)
            const next = rows.length < size ? Option.none() : Option.some(Option.some(keys[keys.length - 1]!))
            return [keys.length === 0 ? Chunk.empty() : Chunk.of(keys), next] as const
          }),
          Effect.mapError(failed("refetch"))
        ))
    return { ...counts, refetch }
  }).pipe(
    Effect.annotateLogs({ run: options.runId, entity: options.entity.name }),
    Effect.withSpan("Reconciliation.reconcile", { attributes: { run: options.runId, entity: options.entity.name } })
  )
