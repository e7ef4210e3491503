/**
 * The run history as it happens: `sync_runs` and `sync_entity_runs` (pages are written by the sink
 * in each page's own transaction). Every write is idempotent, because the activities that make them
 * run at least once.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { EntityRun, Run, type EntityRunStatus, type RunStatus, type SyncType } from "./SyncRun.js"

export interface NewRun {
  readonly runId: string
  readonly orgId: string
  readonly adapter: string
  readonly syncType: SyncType
  readonly entities: ReadonlyArray<string> | undefined
  readonly levels: ReadonlyArray<ReadonlyArray<string>>
}

/** Records a requested run; `false` when the run id already existed. */
export const insertRun = (run: NewRun) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ run_id: string }>`
      INSERT INTO sync_runs (run_id, org_id, adapter, sync_type, entities, status, plan, requested_at)
      VALUES (${run.runId}, ${run.orgId}, ${run.adapter}, ${run.syncType},
              ${run.entities ? [...run.entities] : null}::text[], 'pending',
              ${JSON.stringify({ levels: run.levels })}::jsonb, now())
      ON CONFLICT (run_id) DO NOTHING
      RETURNING run_id`
    if (rows.length === 0) return false
    const entities = run.levels.flatMap((level, index) => level.map((entity) => ({ entity, level: index })))
    if (entities.length > 0) {
      yield* sql`
        INSERT INTO sync_entity_runs (run_id, entity, level, status)
        SELECT ${run.runId}, e.entity, e.level, 'pending'
        FROM unnest(${entities.map((e) => e.entity)}::text[], ${entities.map((e) => e.level)}::int[])
             AS e(entity, level)
        ON CONFLICT (run_id, entity) DO NOTHING`
    }
    return true
  })

/** Active runs of an org and adapter with the entities they cover. */
export const activeRuns = (orgId: string, adapter: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ run_id: string; entities: ReadonlyArray<string> }>`
      SELECT r.run_id, array_agg(e.entity ORDER BY e.entity) AS entities
      FROM sync_runs r JOIN sync_entity_runs e USING (run_id)
      WHERE r.org_id = ${orgId} AND r.adapter = ${adapter} AND r.status IN ('pending', 'running')
      GROUP BY r.run_id`
  })

export const markRunStarted = (runId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE sync_runs SET status = 'running', started_at = coalesce(started_at, now())
        WHERE run_id = ${runId} AND status = 'pending'`)

export const markRunFinished = (runId: string, status: RunStatus, error: string | null) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE sync_runs SET status = ${status}, error = ${error}, finished_at = coalesce(finished_at, now())
        WHERE run_id = ${runId} AND status IN ('pending', 'running')`)

export const markEntityStarted = (
  runId: string,
  entity: string,
  node: string,
  watermarkBefore: Option.Option<Date>,
  highWater: Option.Option<Date>
) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE sync_entity_runs
        SET status = 'running', node = ${node}, started_at = coalesce(started_at, now()),
            watermark_before = ${Option.getOrNull(watermarkBefore)},
            high_water = ${Option.getOrNull(highWater)}
        WHERE run_id = ${runId} AND entity = ${entity} AND status IN ('pending', 'running')`)

/** Closes an entity run, totalling its committed pages (so a page re-run never counts twice). */
export const markEntityFinished = (options: {
  readonly runId: string
  readonly entity: string
  readonly status: EntityRunStatus
  readonly node: string
  readonly deleted?: number
  readonly watermarkAfter?: Option.Option<Date>
  readonly reason?: string | null
  readonly error?: string | null
}) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE sync_entity_runs e
        SET status = ${options.status}, node = coalesce(e.node, ${options.node}),
            reason = ${options.reason ?? null}, error = ${options.error ?? null},
            deleted = ${options.deleted ?? 0} + coalesce(p.deleted, 0),
            watermark_after = ${Option.getOrNull(options.watermarkAfter ?? Option.none())},
            pages = coalesce(p.pages, 0), records = coalesce(p.records, 0),
            inserted = coalesce(p.inserted, 0), updated = coalesce(p.updated, 0),
            unchanged = coalesce(p.unchanged, 0), dead_letters = coalesce(p.dead_letters, 0),
            finished_at = coalesce(e.finished_at, now())
        FROM (SELECT count(*)::int AS pages, sum(records)::int AS records, sum(inserted)::int AS inserted,
                     sum(updated)::int AS updated, sum(unchanged)::int AS unchanged,
                     sum(deleted)::int AS deleted, sum(dead_letters)::int AS dead_letters
              FROM sync_pages WHERE run_id = ${options.runId} AND entity = ${options.entity}) p
        WHERE e.run_id = ${options.runId} AND e.entity = ${options.entity}
          AND e.status IN ('pending', 'running')`)

/** A page as committed: where it ended, whether a page followed, and the records it held. */
export interface CommittedPage {
  readonly last: Option.Option<{ readonly cursor: Date; readonly key: string }>
  readonly hasMore: boolean
  readonly records: number
}

/** Page `pageNo` of the entity run if it has committed (with its `has_more` recorded), else none. */
export const committedPage = (runId: string, entity: string, pageNo: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ cursor_to: Date | null; key_to: string | null; has_more: boolean; records: number; dead_letters: number }>`
      SELECT cursor_to, key_to, has_more, records, dead_letters FROM sync_pages
      WHERE run_id = ${runId} AND entity = ${entity} AND page_no = ${pageNo} AND has_more IS NOT NULL`).pipe(
    Effect.map((rows) =>
      Option.map(Option.fromNullable(rows[0]), (row): CommittedPage => ({
        last: row.cursor_to === null || row.key_to === null ? Option.none() : Option.some({ cursor: row.cursor_to, key: row.key_to }),
        hasMore: row.has_more,
        records: row.records + row.dead_letters
      }))
    )
  )

/** Marks every entity run still open as cancelled, and the run itself. */
export const markCancelled = (runId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(Effect.zipRight(
      sql`UPDATE sync_entity_runs SET status = 'cancelled', finished_at = now(), reason = 'run cancelled'
          WHERE run_id = ${runId} AND status IN ('pending', 'running')`,
      sql`UPDATE sync_runs SET status = 'cancelled', finished_at = now()
          WHERE run_id = ${runId} AND status IN ('pending', 'running')`
    )))

interface RunRow {
  readonly run_id: string
  readonly org_id: string
  readonly adapter: string
  readonly sync_type: SyncType
  readonly entities: ReadonlyArray<string> | null
  readonly status: RunStatus
  readonly plan: { readonly levels?: ReadonlyArray<ReadonlyArray<string>> } | null
  readonly error: string | null
  readonly requested_at: Date
  readonly started_at: Date | null
  readonly finished_at: Date | null
}

interface EntityRunRow {
  readonly run_id: string
  readonly entity: string
  readonly level: number
  readonly status: EntityRunStatus
  readonly reason: string | null
  readonly node: string | null
  readonly pages: number | null
  readonly records: number | null
  readonly inserted: number | null
  readonly updated: number | null
  readonly unchanged: number | null
  readonly deleted: number | null
  readonly dead_letters: number | null
  readonly watermark_before: Date | null
  readonly watermark_after: Date | null
  readonly error: string | null
  readonly started_at: Date | null
  readonly finished_at: Date | null
}

const toEntityRun = (row: EntityRunRow) =>
  new EntityRun({
    entity: row.entity,
    level: row.level,
    status: row.status,
    reason: row.reason,
    node: row.node,
    pages: row.pages ?? 0,
    records: row.records ?? 0,
    inserted: row.inserted ?? 0,
    updated: row.updated ?? 0,
    unchanged: row.unchanged ?? 0,
    deleted: row.deleted ?? 0,
    deadLetters: row.dead_letters ?? 0,
    watermarkBefore: row.watermark_before,
    watermarkAfter: row.watermark_after,
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at
  })

const toRun = (row: RunRow, entityRuns: ReadonlyArray<EntityRunRow>) =>
  new Run({
    runId: row.run_id,
    orgId: row.org_id,
    adapter: row.adapter,
    syncType: row.sync_type,
    entities: row.entities,
    status: row.status,
    levels: row.plan?.levels ?? [],
    error: row.error,
    requestedAt: row.requested_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    entityRuns: entityRuns.filter((e) => e.run_id === row.run_id).map(toEntityRun)
  })

export const getRun = (runId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const runs = yield* sql<RunRow>`SELECT * FROM sync_runs WHERE run_id = ${runId}`
    if (runs.length === 0) return Option.none<Run>()
    const entityRuns = yield* sql<EntityRunRow>`
      SELECT * FROM sync_entity_runs WHERE run_id = ${runId} ORDER BY level, entity`
    return Option.some(toRun(runs[0]!, entityRuns))
  })

export interface ListRunsOptions {
  readonly orgId?: string | undefined
  readonly status?: RunStatus | undefined
  /** Default 50, at most 500. */
  readonly limit?: number | undefined
}

/** Newest first. */
export const listRuns = (options: ListRunsOptions = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 500)
    const runs = yield* sql<RunRow>`
      SELECT * FROM sync_runs
      WHERE (${options.orgId ?? null}::text IS NULL OR org_id = ${options.orgId ?? null})
        AND (${options.status ?? null}::text IS NULL OR status = ${options.status ?? null})
      ORDER BY requested_at DESC, run_id DESC LIMIT ${limit}`
    if (runs.length === 0) return []
    const entityRuns = yield* sql<EntityRunRow>`
      SELECT * FROM sync_entity_runs WHERE run_id IN ${sql.in(runs.map((r) => r.run_id))}
      ORDER BY level, entity`
    return runs.map((run) => toRun(run, entityRuns))
  })
