/**
 * The engine's API, as RPC, HTTP and the CLI expose it: start a run, get one, list them, watch one
 * as a stream of progress events, cancel one, and get the plan.
 */
import { SqlClient } from "@effect/sql"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import { DependencyGraph } from "@tidemark/adapter-core"
import { Context, Effect, Layer, Option, Schedule, Stream } from "effect"
import { AdapterRegistry } from "./AdapterRegistry.js"
import { EngineConfig } from "./EngineConfig.js"
import { EntitySyncWorkflow } from "./EntitySyncWorkflow.js"
import { LockSpace } from "./Migrations.js"
import { OrchestratorWorkflow } from "./OrchestratorWorkflow.js"
import * as RunHistory from "./RunHistory.js"
import {
  InvalidRunRequestError,
  type ProgressEvent,
  type Run,
  RunConflictError,
  RunIdReusedError,
  RunNotFoundError,
  type StartRunRequest
} from "./SyncRun.js"

export interface Plan {
  readonly adapter: string
  readonly levels: ReadonlyArray<ReadonlyArray<string>>
  readonly graph: typeof DependencyGraph.DependencyGraphJson.Type
  readonly mermaid: string
}

export type StartRunError = InvalidRunRequestError | RunConflictError | RunIdReusedError

export interface SyncEngineShape {
  readonly startRun: (request: StartRunRequest) => Effect.Effect<Run, StartRunError>
  readonly getRun: (runId: string) => Effect.Effect<Run, RunNotFoundError>
  readonly listRuns: (options?: RunHistory.ListRunsOptions) => Effect.Effect<ReadonlyArray<Run>>
  /** Progress until the run ends (the stream then completes with `RunFinished`). */
  readonly watchRun: (runId: string) => Stream.Stream<ProgressEvent, RunNotFoundError>
  readonly cancelRun: (runId: string) => Effect.Effect<Run, RunNotFoundError>
  readonly plan: (
    adapter: string,
    entities?: ReadonlyArray<string>
  ) => Effect.Effect<Plan, InvalidRunRequestError>
}

export class SyncEngine extends Context.Tag("@tidemark/sync-engine/SyncEngine")<SyncEngine, SyncEngineShape>() {}

const newRunId = () => `run-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

const sameRequest = (run: Run, request: StartRunRequest) =>
  run.orgId === request.orgId && run.adapter === request.adapter && run.syncType === request.syncType &&
  JSON.stringify(run.entities ?? null) === JSON.stringify(request.entities ? [...request.entities] : null)

const isFinished = (status: Run["status"]) => status !== "pending" && status !== "running"

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const registry = yield* AdapterRegistry
  const config = yield* EngineConfig
  const context = yield* Effect.context<WorkflowEngine | SqlClient.SqlClient>()
  const orDie = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
    Effect.orDie(Effect.provideService(effect, SqlClient.SqlClient, sql))

  const plan: SyncEngineShape["plan"] = (adapter, entities) =>
    Effect.gen(function*() {
      const manifest = yield* registry.manifest(adapter).pipe(
        Effect.mapError((e) => new InvalidRunRequestError({ field: "adapter", reason: e.message }))
      )
      const graph = yield* Effect.orDie(DependencyGraph.build(manifest))
      const levels = entities === undefined
        ? graph.levels
        : yield* DependencyGraph.planFor(graph, entities).pipe(
          Effect.mapError((e) => new InvalidRunRequestError({ field: "entities", reason: e.message }))
        )
      return { adapter, levels, graph: DependencyGraph.toJSON(graph), mermaid: DependencyGraph.toMermaid(graph) }
    })

  const getRun: SyncEngineShape["getRun"] = (runId) =>
    orDie(RunHistory.getRun(runId)).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(new RunNotFoundError({ runId })),
        onSome: Effect.succeed
      }))
    )

  const startRun: SyncEngineShape["startRun"] = (request) =>
    Effect.gen(function*() {
      yield* registry.get(request.orgId, request.adapter).pipe(
        Effect.mapError((e) => new InvalidRunRequestError({ field: "adapter", reason: e.message }))
      )
      const { levels } = yield* plan(request.adapter, request.entities)
      const runId = request.runId ?? newRunId()
      const covered = new Set(levels.flat())
      // Check-and-insert under a lock per (org, adapter), so two requests never both pass the check.
      const inserted = yield* orDie(sql.withTransaction(Effect.gen(function*() {
        // The two-key form, in Tidemark's own lock space: one-key locks are the cluster's shard locks.
        yield* sql`SELECT pg_advisory_xact_lock(${LockSpace}, hashtext(${`run/${request.orgId}/${request.adapter}`}))`
        const existing = yield* RunHistory.getRun(runId)
        if (Option.isSome(existing)) return { _tag: "Existing", run: existing.value } as const
        for (const active of yield* RunHistory.activeRuns(request.orgId, request.adapter)) {
          const overlap = active.entities.filter((e) => covered.has(e))
          if (overlap.length > 0) return { _tag: "Conflict", runId: active.run_id, overlap } as const
        }
        yield* RunHistory.insertRun({
          runId,
          orgId: request.orgId,
          adapter: request.adapter,
          syncType: request.syncType,
          entities: request.entities,
          levels
        })
        return { _tag: "Inserted" } as const
      })))
      if (inserted._tag === "Conflict") {
        return yield* new RunConflictError({
          orgId: request.orgId,
          adapter: request.adapter,
          activeRunId: inserted.runId,
          entities: inserted.overlap
        })
      }
      if (inserted._tag === "Existing" && !sameRequest(inserted.run, request)) {
        return yield* new RunIdReusedError({
          runId,
          existing: `${inserted.run.syncType} of ${inserted.run.orgId}/${inserted.run.adapter}`
        })
      }
      // Also for an existing run: if the process died between the insert and this call, the same
      // request completes the start; the workflow's execution id makes a second start a no-op.
      yield* OrchestratorWorkflow.execute({
        runId,
        orgId: request.orgId,
        adapter: request.adapter,
        syncType: request.syncType,
        levels
      }, { discard: true }).pipe(Effect.provide(context))
      return yield* getRun(runId).pipe(Effect.orDie)
    })

  const cancelRun: SyncEngineShape["cancelRun"] = (runId) =>
    Effect.gen(function*() {
      const run = yield* getRun(runId)
      if (isFinished(run.status)) return run
      const executionId = yield* OrchestratorWorkflow.executionId({
        runId,
        orgId: run.orgId,
        adapter: run.adapter,
        syncType: run.syncType,
        levels: run.levels
      })
      yield* OrchestratorWorkflow.interrupt(executionId).pipe(Effect.provide(context))
      for (const entity of run.entityRuns.filter((e) => e.status === "running" || e.status === "pending")) {
        const childId = yield* EntitySyncWorkflow.executionId({
          runId,
          orgId: run.orgId,
          adapter: run.adapter,
          entity: entity.entity,
          syncType: run.syncType
        })
        yield* EntitySyncWorkflow.interrupt(childId).pipe(Effect.provide(context))
      }
      yield* orDie(RunHistory.markCancelled(runId))
      return yield* getRun(runId)
    })

  const watchRun: SyncEngineShape["watchRun"] = (runId) =>
    Stream.unwrap(Effect.gen(function*() {
      yield* getRun(runId)
      const seenPages = new Set<string>()
      const seenStatus = new Map<string, string>()
      let done = false
      const poll = Effect.gen(function*() {
        if (done) return Option.none<ReadonlyArray<ProgressEvent>>()
        const run = yield* getRun(runId).pipe(Effect.orDie)
        const pages = yield* orDie(sql<{
          entity: string
          page_no: number
          records: number
          inserted: number
          updated: number
          dead_letters: number
        }>`SELECT entity, page_no, records, inserted, updated, dead_letters FROM sync_pages
           WHERE run_id = ${runId} ORDER BY committed_at, entity, page_no`)
        const events: Array<ProgressEvent> = []
        for (const entityRun of run.entityRuns) {
          const before = seenStatus.get(entityRun.entity)
          if (before === undefined || before === "pending") {
            if (entityRun.status !== "pending" && entityRun.status !== "skipped" && entityRun.status !== "cancelled") {
              events.push({ _tag: "EntityStarted", runId, entity: entityRun.entity, node: entityRun.node })
            }
          }
        }
        for (const page of pages) {
          const id = `${page.entity}/${page.page_no}`
          if (seenPages.has(id)) continue
          seenPages.add(id)
          events.push({
            _tag: "PageCommitted",
            runId,
            entity: page.entity,
            pageNo: page.page_no,
            records: page.records,
            inserted: page.inserted,
            updated: page.updated,
            deadLetters: page.dead_letters
          })
        }
        for (const entityRun of run.entityRuns) {
          const before = seenStatus.get(entityRun.entity)
          const terminal = !["pending", "running"].includes(entityRun.status)
          if (terminal && before !== entityRun.status) {
            events.push({
              _tag: "EntityFinished",
              runId,
              entity: entityRun.entity,
              status: entityRun.status,
              reason: entityRun.reason,
              records: entityRun.records,
              pages: entityRun.pages
            })
          }
          seenStatus.set(entityRun.entity, entityRun.status)
        }
        if (isFinished(run.status)) {
          events.push({ _tag: "RunFinished", runId, status: run.status, error: run.error })
          done = true
        }
        return Option.some(events as ReadonlyArray<ProgressEvent>)
      })
      return Stream.repeatEffectOption(
        poll.pipe(Effect.flatMap(Option.match({
          onNone: () => Effect.fail(Option.none()),
          onSome: (events) => Effect.succeed(events)
        })))
      ).pipe(
        Stream.schedule(Schedule.spaced(config.watchInterval)),
        Stream.flattenIterables
      )
    }))

  const listRuns: SyncEngineShape["listRuns"] = (options) => orDie(RunHistory.listRuns(options))

  return SyncEngine.of({ startRun, getRun, listRuns, watchRun, cancelRun, plan })
})

export const layer = Layer.effect(SyncEngine, make)
