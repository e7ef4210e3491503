/**
 * `pnpm start`: Postgres (embedded unless DATABASE_URL is set), the ITSM simulator as the default
 * source, and a single-node sync engine: migrations, then a first full sync when this org has never
 * synced (a delta otherwise), with progress in the log. RPC, CLI, schedules and the dashboard are
 * layered on here as they land (see the README's status section).
 */
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { DependencyGraph, RateBudget } from "@tidemark/adapter-core"
import { ItsmEntities, TableApiAdapter } from "@tidemark/itsm-adapter"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { AdapterRegistry, Database, EngineConfig, SyncEngine, SyncRun, SyncRuntime } from "@tidemark/sync-engine"
import { Config, Effect, Layer, Redacted, Stream } from "effect"
import * as Path from "node:path"

const dataDir = Path.resolve(import.meta.dirname, "..", "..", "..", ".data", "postgres")

const OrgId = Config.string("ORG_ID").pipe(Config.withDefault("demo"))

/** The simulator's data is generated from its seed and base time: midnight UTC keeps it stable for a day. */
const todayMidnight = () => {
  const now = new Date()
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
}

const SimulatorLive = Layer.unwrapEffect(Effect.gen(function*() {
  const port = yield* Config.integer("SIMULATOR_PORT").pipe(Config.withDefault(0))
  return ItsmSimulator.layer({
    port,
    scale: "demo",
    baseTime: todayMidnight(),
    latency: { ms: 150, jitterMs: 100 },
    mutations: { perSecond: 0.5, mix: { create: 1, update: 3, delete: 0.2 } }
  })
}))

const RegistryLive = Layer.effect(
  AdapterRegistry.AdapterRegistry,
  Effect.gen(function*() {
    const sim = yield* ItsmSimulator.ItsmSimulator
    const org = yield* OrgId
    const adapter = yield* TableApiAdapter.make({
      baseUrl: sim.url,
      org,
      auth: {
        _tag: "OAuthClientCredentials",
        tokenUrl: `${sim.url}/oauth_token.do`,
        clientId: sim.credentials.clientId,
        clientSecret: Redacted.make(sim.credentials.clientSecret)
      },
      rateLimit: { requestsPerSecond: 20, burst: 5 }
    })
    return AdapterRegistry.fromAdapters([adapter])
  })
).pipe(Layer.provide(Layer.merge(NodeHttpClient.layerUndici, RateBudget.layer)))

const firstSync = Effect.gen(function*() {
  const engine = yield* SyncEngine.SyncEngine
  const sql = yield* SqlClient.SqlClient
  const org = yield* OrgId
  const graph = yield* DependencyGraph.build(ItsmEntities.itsmManifest)
  for (const dropped of graph.droppedEdges.filter((e) => e.reason !== "shadowed-by-hard")) {
    yield* Effect.logWarning(dropped.message)
  }
  yield* Effect.logInfo(`Sync plan (levels): ${JSON.stringify(graph.levels)}`)
  const previous = yield* sql<{ n: number }>`
    SELECT count(*)::int AS n FROM sync_runs WHERE org_id = ${org} AND status IN ('succeeded', 'partial')`
  const syncType = previous[0]!.n === 0 ? "full" : "delta"
  const run = yield* engine.startRun(new SyncRun.StartRunRequest({ orgId: org, adapter: "itsm", syncType }))
  yield* Effect.logInfo(`Started a ${syncType} sync: run ${run.runId}`)
  yield* engine.watchRun(run.runId).pipe(
    Stream.runForEach((event) => {
      switch (event._tag) {
        case "EntityFinished":
          return Effect.logInfo(`${event.entity}: ${event.status}, ${event.records} records in ${event.pages} pages`)
        case "RunFinished":
          return Effect.logInfo(`Run ${event.runId} ${event.status}${event.error ? `: ${event.error}` : ""}`)
        default:
          return Effect.void
      }
    })
  )
  const counts = yield* Effect.forEach(graph.levels.flat(), (entity) =>
    Effect.map(
      sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(`cache_itsm_${entity}`)}
                         WHERE org_id = ${org} AND deleted_at IS NULL`,
      (rows) => `${entity} ${rows[0]!.n}`
    ))
  yield* Effect.logInfo(`Cache: ${counts.join(", ")}`)
})

const program = Effect.gen(function*() {
  const sim = yield* ItsmSimulator.ItsmSimulator
  yield* Effect.logInfo(`ITSM simulator: ${sim.url} (OAuth client ${sim.credentials.clientId})`)
  yield* firstSync
  yield* Effect.logInfo("Tidemark is running (Ctrl-C to stop). RPC, CLI, schedules and the dashboard come next.")
  return yield* Effect.never
})

const Live = SyncRuntime.layerSingleNode({ adapters: ["itsm"] }).pipe(
  Layer.provideMerge(RegistryLive),
  Layer.provideMerge(EngineConfig.layer()),
  Layer.provideMerge(SimulatorLive),
  Layer.provideMerge(Database.layer({ embeddedDataDir: dataDir }))
)

NodeRuntime.runMain(program.pipe(Effect.provide(Live)))
