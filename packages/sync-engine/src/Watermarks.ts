/**
 * Per (org, adapter, entity): how far the source has been read. The watermark is the source's own
 * cursor (never our clock), the in-flight position is the last page committed by the run in progress,
 * and the times of the last full sync and reconciliation say how fresh the whole mirror is.
 */
import { SqlClient } from "@effect/sql"
import type { Adapter } from "@tidemark/adapter-core"
import { Effect, Option, Schema } from "effect"
import { reasonOf } from "./internal/errorReason.js"

export interface Inflight {
  readonly runId: string
  /** Last record of the last page committed; none before the run's first non-empty page. */
  readonly position: Option.Option<Adapter.Position>
}

export interface WatermarkState {
  /** Delta syncs read records after this cursor (minus the lookback); none: never synced. */
  readonly watermark: Option.Option<Date>
  readonly inflight: Option.Option<Inflight>
  readonly lastFullAt: Option.Option<Date>
  readonly lastReconciliationAt: Option.Option<Date>
  readonly updatedAt: Date
}

export class WatermarkError extends Schema.TaggedError<WatermarkError>()("WatermarkError", {
  operation: Schema.Literal("get", "setAfterFull", "setAfterReconciliation", "clearInflight"),
  orgId: Schema.String,
  adapter: Schema.String,
  entity: Schema.String,
  cause: Schema.Defect
}) {
  override get message() {
    const reason = reasonOf(this.cause)
    return `watermark ${this.operation} of ${this.adapter}/${this.orgId}/${this.entity} failed: ${reason}`
  }
}

interface Row {
  readonly watermark: Date | null
  readonly inflight_run_id: string | null
  readonly inflight_cursor: Date | null
  readonly inflight_key: string | null
  readonly last_full_at: Date | null
  readonly last_reconciliation_at: Date | null
  readonly updated_at: Date
}

const fromRow = (row: Row): WatermarkState => ({
  watermark: Option.fromNullable(row.watermark),
  inflight: row.inflight_run_id === null ? Option.none() : Option.some({
    runId: row.inflight_run_id,
    position: row.inflight_cursor === null || row.inflight_key === null
      ? Option.none()
      : Option.some({ cursor: row.inflight_cursor, key: row.inflight_key })
  }),
  lastFullAt: Option.fromNullable(row.last_full_at),
  lastReconciliationAt: Option.fromNullable(row.last_reconciliation_at),
  updatedAt: row.updated_at
})

const wrap = (operation: WatermarkError["operation"], orgId: string, adapter: string, entity: string) =>
  Effect.mapError((cause: unknown) => new WatermarkError({ operation, orgId, adapter, entity, cause }))

/** The entity's watermark state; none when it was never synced. */
export const get = (
  orgId: string,
  adapter: string,
  entity: string
): Effect.Effect<Option.Option<WatermarkState>, WatermarkError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<Row>`
      SELECT watermark, inflight_run_id, inflight_cursor, inflight_key, last_full_at, last_reconciliation_at, updated_at
      FROM sync_watermarks WHERE org_id = ${orgId} AND adapter = ${adapter} AND entity = ${entity}`).pipe(
    Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), fromRow)),
    wrap("get", orgId, adapter, entity)
  )

/**
 * After a full sync: the watermark becomes exactly `watermark` (the source's high water before the
 * sync began, minus the lookback; none when the source held nothing), even if that is earlier than
 * before, because the full sync is the new ground truth. Records the time and clears the in-flight
 * position.
 */
export const setAfterFull = (
  orgId: string,
  adapter: string,
  entity: string,
  watermark: Option.Option<Date>
): Effect.Effect<void, WatermarkError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      INSERT INTO sync_watermarks (org_id, adapter, entity, watermark, last_full_at)
      VALUES (${orgId}, ${adapter}, ${entity}, ${Option.getOrNull(Option.map(watermark, (d) => d.toISOString()))}::timestamptz, now())
      ON CONFLICT (org_id, adapter, entity) DO UPDATE SET
        watermark = EXCLUDED.watermark, last_full_at = now(),
        inflight_run_id = NULL, inflight_cursor = NULL, inflight_key = NULL, updated_at = now()`).pipe(
    Effect.asVoid,
    wrap("setAfterFull", orgId, adapter, entity)
  )

/** After a reconciliation: records the time and clears the in-flight position; the watermark stays. */
export const setAfterReconciliation = (
  orgId: string,
  adapter: string,
  entity: string
): Effect.Effect<void, WatermarkError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      INSERT INTO sync_watermarks (org_id, adapter, entity, last_reconciliation_at)
      VALUES (${orgId}, ${adapter}, ${entity}, now())
      ON CONFLICT (org_id, adapter, entity) DO UPDATE SET
        last_reconciliation_at = now(),
        inflight_run_id = NULL, inflight_cursor = NULL, inflight_key = NULL, updated_at = now()`).pipe(
    Effect.asVoid,
    wrap("setAfterReconciliation", orgId, adapter, entity)
  )

/** Forgets the in-flight position (a run finished or was abandoned); the watermark stays. */
export const clearInflight = (
  orgId: string,
  adapter: string,
  entity: string
): Effect.Effect<void, WatermarkError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      UPDATE sync_watermarks SET inflight_run_id = NULL, inflight_cursor = NULL, inflight_key = NULL, updated_at = now()
      WHERE org_id = ${orgId} AND adapter = ${adapter} AND entity = ${entity}`).pipe(
    Effect.asVoid,
    wrap("clearInflight", orgId, adapter, entity)
  )
