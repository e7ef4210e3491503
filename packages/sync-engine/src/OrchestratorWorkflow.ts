/**
 * A run, as a durable workflow: plan the levels, then start the entity workflows of each level in
 * parallel once the levels before it are done. A failed hard parent skips its dependants with the
 * reason; soft parents never block. The run ends `succeeded`, `partial` or `failed`.
 */
import { Activity, Workflow } from "@effect/workflow"
import { DependencyGraph } from "@tidemark/adapter-core"
import { Effect, Schema } from "effect"
import { AdapterRegistry } from "./AdapterRegistry.js"
import { EngineConfig } from "./EngineConfig.js"
import { type EntityOutcome, EntitySyncWorkflow } from "./EntitySyncWorkflow.js"
import { LevelLookahead } from "./LevelLookahead.js"
import * as RunHistory from "./RunHistory.js"
import { RunStatus, SyncType } from "./SyncRun.js"

export const OrchestratorPayload = {
  runId: Schema.String,
  orgId: Schema.String,
  adapter: Schema.String,
  syncType: SyncType,
  levels: Schema.Array(Schema.Array(Schema.String))
}

export const RunOutcome = Schema.Struct({ runId: Schema.String, status: RunStatus })

export const OrchestratorWorkflow = Workflow.make({
  name: "TidemarkRun",
  payload: OrchestratorPayload,
  success: RunOutcome,
  idempotencyKey: (p) => `${p.orgId}/${p.adapter}/${p.runId}`
})

export const finalStatus = (outcomes: ReadonlyArray<{ readonly status: string }>) => {
  const succeeded = outcomes.filter((o) => o.status === "succeeded").length
  return succeeded === outcomes.length ? "succeeded" : succeeded === 0 ? "failed" : "partial"
}

const recordStep = <A, I, R>(name: string, success: Schema.Schema<A, I>, execute: Effect.Effect<A, unknown, R>) =>
  Activity.make({ name, success, execute: Effect.orDie(execute) })

export const layer = OrchestratorWorkflow.toLayer(Effect.fn(function*(p) {
  yield* recordStep("started", Schema.Void, RunHistory.markRunStarted(p.runId).pipe(Effect.asVoid))
  const registry = yield* AdapterRegistry
  const manifest = yield* Effect.orDie(registry.manifest(p.adapter))
  const graph = yield* Effect.orDie(DependencyGraph.build(manifest))
  const outcomes = new Map<string, EntityOutcome | { readonly status: "skipped"; readonly reason: string }>()
  const lookahead = yield* LevelLookahead

  for (const [index, level] of p.levels.entries()) {
    // Not durable, and need not be: later levels' plans and the next one's first pages, made while this runs.
    yield* lookahead.prepare(p.levels.slice(index + 1).map((later) =>
      later.map((entity) => ({ runId: p.runId, orgId: p.orgId, adapter: p.adapter, entity, syncType: p.syncType }))
    ))
    const runnable: Array<string> = []
    for (const entity of level) {
      const blocked = DependencyGraph.hardParents(graph, entity).find((parent) => {
        const outcome = outcomes.get(parent)
        return outcome !== undefined && outcome.status !== "succeeded"
      })
      if (blocked === undefined) {
        runnable.push(entity)
        continue
      }
      const reason = `hard parent ${blocked} ${outcomes.get(blocked)!.status}`
      outcomes.set(entity, { status: "skipped", reason })
      yield* recordStep(
        `skip-${entity}`,
        Schema.Void,
        Effect.flatMap(EngineConfig, (config) =>
          RunHistory.markEntityFinished({
            runId: p.runId,
            entity,
            status: "skipped",
            node: config.nodeName,
            reason
          })).pipe(Effect.asVoid)
      )
    }
    const results = yield* Effect.all(
      runnable.map((entity) =>
        EntitySyncWorkflow.execute({
          runId: p.runId,
          orgId: p.orgId,
          adapter: p.adapter,
          entity,
          syncType: p.syncType
        })
      ),
      { concurrency: "unbounded" }
    )
    for (const result of results) outcomes.set(result.entity, result)
  }

  const status = finalStatus([...outcomes.values()])
  const failures = [...outcomes.entries()]
    .filter(([, o]) => o.status === "failed")
    .map(([entity, o]) => `${entity}: ${"error" in o ? o.error : ""}`)
  yield* recordStep(
    "finished",
    Schema.Void,
    RunHistory.markRunFinished(p.runId, status, failures.length > 0 ? failures.join("; ") : null).pipe(Effect.asVoid)
  )
  return { runId: p.runId, status }
}))
