/**
 * Everything a node needs to run syncs: the cluster's SQL-backed sharding and the workflow engine on
 * the same Postgres, the orchestrator and entity workflows, and the engine API. The composition root
 * adds the adapters (`AdapterRegistry`), settings (`EngineConfig`) and the `SqlClient`.
 */
import { ClusterWorkflowEngine, SingleRunner } from "@effect/cluster"
import type { ShardingConfig } from "@effect/cluster"
import { Effect, Layer } from "effect"
import { AdapterRegistry } from "./AdapterRegistry.js"
import * as CacheTables from "./CacheTables.js"
import * as EntitySyncWorkflow from "./EntitySyncWorkflow.js"
import * as Migrations from "./Migrations.js"
import * as OrchestratorWorkflow from "./OrchestratorWorkflow.js"
import * as PagePrefetch from "./PagePrefetch.js"
import * as SyncEngine from "./SyncEngine.js"

/**
 * Cluster timings for one node. The defaults poll for new entity messages every 10 s, which made a
 * run start up to 10 s late; runs are started by messages, so we poll often.
 */
export const defaultShardingConfig: Partial<ShardingConfig.ShardingConfig["Type"]> = {
  entityMessagePollInterval: 250,
  entityReplyPollInterval: 100,
  refreshAssignmentsInterval: 1000
}

/** Migrations, then one cache table per entity of every registered adapter's manifest. */
export const prepareDatabase = (adapters: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    yield* Migrations.run
    const registry = yield* AdapterRegistry
    for (const adapter of adapters) {
      const manifest = yield* registry.manifest(adapter)
      yield* CacheTables.ensure(adapter, manifest)
    }
  })

/** A single-node runtime (one process hosting every shard): `pnpm start`, tests, benchmarks. */
export const layerSingleNode = (options: {
  readonly adapters: ReadonlyArray<string>
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]>
}) => {
  const workflows = Layer.mergeAll(EntitySyncWorkflow.layer, OrchestratorWorkflow.layer).pipe(
    Layer.provide(PagePrefetch.layer)
  )
  const engine = ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(SingleRunner.layer({
      runnerStorage: "sql",
      shardingConfig: { ...defaultShardingConfig, ...options.shardingConfig }
    }))
  )
  return SyncEngine.layer.pipe(
    Layer.provideMerge(workflows),
    Layer.provideMerge(engine),
    Layer.provide(Layer.effectDiscard(prepareDatabase(options.adapters)))
  )
}
