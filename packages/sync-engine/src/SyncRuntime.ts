/**
 * Everything a node needs to run syncs: the cluster's SQL-backed sharding and the workflow engine on
 * the same Postgres, the orchestrator and entity workflows, and the engine API. The composition root
 * adds the adapters (`AdapterRegistry`), settings (`EngineConfig`) and the `SqlClient`.
 */
import { ClusterWorkflowEngine, EntityId, RunnerAddress, Sharding, SingleRunner } from "@effect/cluster"
import type { MessageStorage, ShardingConfig } from "@effect/cluster"
import { NodeClusterSocket } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { AdapterRegistry } from "./AdapterRegistry.js"
import * as CacheTables from "./CacheTables.js"
import type * as EntityPlan from "./EntityPlan.js"
import * as EntitySyncWorkflow from "./EntitySyncWorkflow.js"
import * as LevelLookahead from "./LevelLookahead.js"
import * as Migrations from "./Migrations.js"
import * as OrchestratorWorkflow from "./OrchestratorWorkflow.js"
import * as PagePrefetch from "./PagePrefetch.js"
import * as RecordChanges from "./RecordChanges.js"
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

/** Whether an entity run's workflow lives on one of this runner's shards (the entity workflows use the default group). */
const runsHere = (p: EntityPlan.Payload) =>
  Effect.gen(function*() {
    const sharding = yield* Sharding.Sharding
    const executionId = yield* EntitySyncWorkflow.EntitySyncWorkflow.executionId(p)
    return sharding.hasShardId(sharding.getShardId(EntityId.make(executionId), "default"))
  })

const withWorkflows = <E, R>(
  adapters: ReadonlyArray<string>,
  sharding: Layer.Layer<Sharding.Sharding | MessageStorage.MessageStorage, E, R>
) => {
  // One prefetch for the workflows and the lookahead, which fills it for the next level's pages.
  const lookahead = LevelLookahead.layer(runsHere).pipe(Layer.provideMerge(PagePrefetch.layer))
  const workflows = Layer.mergeAll(EntitySyncWorkflow.layer, OrchestratorWorkflow.layer, RecordChanges.layer).pipe(
    Layer.provide(lookahead)
  )
  return SyncEngine.layer.pipe(
    Layer.provideMerge(workflows),
    Layer.provideMerge(ClusterWorkflowEngine.layer.pipe(Layer.provideMerge(sharding))),
    Layer.provide(Layer.effectDiscard(prepareDatabase(adapters)))
  )
}

/** A single-node runtime (one process hosting every shard): `pnpm start`, tests, benchmarks. */
export const layerSingleNode = (options: {
  readonly adapters: ReadonlyArray<string>
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]>
}) =>
  withWorkflows(
    options.adapters,
    SingleRunner.layer({
      runnerStorage: "sql",
      shardingConfig: { ...defaultShardingConfig, ...options.shardingConfig }
    })
  )

/**
 * One node of a cluster: a runner with its own address (other runners send it messages there) on the
 * shared Postgres. Shards spread over the live runners; when one dies, its shards move after its lock
 * expires (`shardLockExpiration`) and its workflows resume elsewhere from their last activity.
 */
export const layerClusterNode = (options: {
  readonly adapters: ReadonlyArray<string>
  /** Where other runners reach this one. */
  readonly runnerAddress: { readonly host: string; readonly port: number }
  /** Where to listen, when it differs (e.g. 0.0.0.0 in a container); default the runner address. */
  readonly listenAddress?: { readonly host: string; readonly port: number }
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]>
}) =>
  withWorkflows(
    options.adapters,
    NodeClusterSocket.layer({
      storage: "sql",
      // Explicit addresses: the environment's HOST/PORT (the HTTP server's) must not move the runner.
      shardingConfig: {
        ...defaultShardingConfig,
        ...options.shardingConfig,
        runnerAddress: Option.some(RunnerAddress.make(options.runnerAddress.host, options.runnerAddress.port)),
        runnerListenAddress: options.listenAddress
          ? Option.some(RunnerAddress.make(options.listenAddress.host, options.listenAddress.port))
          : Option.none()
      }
    })
  )
