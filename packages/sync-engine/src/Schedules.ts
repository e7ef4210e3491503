/**
 * Schedules: a periodic delta and a nightly reconciliation per (org, adapter), as cluster-wide crons
 * (`ClusterCron`): each tick is one persisted message, so it fires once in the cluster, not once per
 * node, and a tick missed while no node was up is not replayed later than a day.
 */
import { ClusterCron } from "@effect/cluster"
import { SqlClient } from "@effect/sql"
import { Cron, Effect, Either, Layer } from "effect"
import { EngineConfig } from "./EngineConfig.js"
import { SyncEngine } from "./SyncEngine.js"
import { StartRunRequest, type SyncType } from "./SyncRun.js"

export interface ScheduledSource {
  readonly orgId: string
  readonly adapter: string
}

export interface ScheduleOptions {
  readonly sources: ReadonlyArray<ScheduledSource>
  /** Cron of the periodic delta (seconds field optional); default every 5 minutes; `null`: none. */
  readonly delta?: string | null
  /** Cron of the reconciliation (UTC); default 03:00 every night; `null`: none. */
  readonly reconciliation?: string | null
}

export const defaultDeltaCron = "*/5 * * * *"
export const defaultReconciliationCron = "0 3 * * *"

/** Starts the scheduled run and records the tick; a run still in progress makes the tick a skip. */
const fire = (name: string, source: ScheduledSource, syncType: SyncType) =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine
    const config = yield* EngineConfig
    const sql = yield* SqlClient.SqlClient
    const started = yield* Effect.either(
      engine.startRun(new StartRunRequest({ orgId: source.orgId, adapter: source.adapter, syncType }))
    )
    const [runId, outcome] = Either.match(started, {
      onRight: (run) => [run.runId, "started"] as const,
      onLeft: (error) => [null, error._tag === "RunConflictError" ? `skipped: ${error.message}` : `failed: ${error.message}`] as const
    })
    yield* sql`INSERT INTO sync_schedule_ticks (schedule, org_id, adapter, sync_type, node, run_id, outcome)
               VALUES (${name}, ${source.orgId}, ${source.adapter}, ${syncType}, ${config.nodeName}, ${runId}, ${outcome})`
    yield* Effect.logInfo(`schedule ${name}: ${outcome}`).pipe(Effect.annotateLogs({ runId }))
  }).pipe(Effect.orDie)

const parseCron = (field: string, expression: string) =>
  Either.getOrThrowWith(Cron.parse(expression), (error) =>
    new Error(`schedule ${field}: invalid cron "${expression}": ${error.message}`))

/** The crons of every source; register it on every node (each tick still fires once). */
export const layer = (options: ScheduleOptions) => {
  const delta = options.delta === undefined ? defaultDeltaCron : options.delta
  const reconciliation = options.reconciliation === undefined ? defaultReconciliationCron : options.reconciliation
  const crons = options.sources.flatMap((source) => {
    const base = `${source.orgId}/${source.adapter}`
    return [
      ...(delta === null ? [] : [ClusterCron.make({
        name: `delta/${base}`,
        cron: parseCron("delta", delta),
        execute: fire(`delta/${base}`, source, "delta"),
        skipIfOlderThan: "10 minutes"
      })]),
      ...(reconciliation === null ? [] : [ClusterCron.make({
        name: `reconciliation/${base}`,
        cron: parseCron("reconciliation", reconciliation),
        execute: fire(`reconciliation/${base}`, source, "reconciliation"),
        skipIfOlderThan: "6 hours"
      })])
    ]
  })
  return Layer.mergeAll(Layer.empty, ...crons)
}
