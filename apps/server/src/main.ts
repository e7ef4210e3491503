/**
 * The Tidemark server, the composition root: configuration from the environment; Postgres (embedded
 * unless DATABASE_URL is set); the ITSM source (an embedded simulator unless ITSM_BASE_URL is set);
 * the sync engine as a single node or as one node of a cluster (RUNNER_PORT); schedules; and one HTTP
 * server for health, metrics, webhooks, RPC, the dashboard API and the web page. With an empty cache
 * it runs a first full sync.
 */
import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { DependencyGraph, RateBudget } from "@tidemark/adapter-core"
import {
  DashboardAccess,
  DashboardApi,
  DashboardMigrations,
  FastReads,
  WebPage
} from "@tidemark/dashboard-api"
import { ItsmEntities, TableApiAdapter } from "@tidemark/itsm-adapter"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import {
  AdapterRegistry,
  Database,
  EngineConfig,
  Schedules,
  SyncEngine,
  SyncRpc,
  SyncRun,
  SyncRuntime
} from "@tidemark/sync-engine"
import { Context, Effect, Layer, Option, Redacted, Stream } from "effect"
import * as Path from "node:path"
import * as Observability from "./Observability.js"
import { ServerConfig } from "./ServerConfig.js"
import * as Webhooks from "./Webhooks.js"

const defaultDataDir = Path.resolve(import.meta.dirname, "..", "..", "..", ".data", "postgres")

/** Where the ITSM source is: configured, or the embedded simulator's URL. */
class SourceUrl extends Context.Tag("@tidemark/server/SourceUrl")<SourceUrl, string>() {}

/** The simulator's data comes from its seed and base time: midnight UTC keeps it stable for a day. */
const todayMidnight = () => {
  const now = new Date()
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
}

const SourceLive = Layer.unwrapEffect(Effect.map(ServerConfig, (config) =>
  Option.match(config.itsmBaseUrl, {
    onSome: (url) => Layer.succeed(SourceUrl, url),
    onNone: () =>
      Layer.effect(
        SourceUrl,
        Effect.gen(function*() {
          const sim = yield* ItsmSimulator.make({
            port: config.simulatorPort,
            scale: "demo",
            baseTime: todayMidnight(),
            latency: { ms: 150, jitterMs: 100 },
            mutations: { perSecond: 0.5, mix: { create: 1, update: 3, delete: 0.2 } },
            credentials: { clientId: config.itsmClientId, clientSecret: Redacted.value(config.itsmClientSecret) }
          })
          yield* Effect.logInfo(`ITSM simulator (the default source): ${sim.url}`)
          return sim.url
        })
      ).pipe(Layer.provide(Layer.scope))
  })))

const RegistryLive = Layer.effect(
  AdapterRegistry.AdapterRegistry,
  Effect.gen(function*() {
    const config = yield* ServerConfig
    const baseUrl = yield* SourceUrl
    const adapter = yield* TableApiAdapter.make({
      baseUrl,
      org: config.orgId,
      auth: {
        _tag: "OAuthClientCredentials",
        tokenUrl: `${baseUrl}/oauth_token.do`,
        clientId: config.itsmClientId,
        clientSecret: config.itsmClientSecret
      },
      rateLimit: { requestsPerSecond: config.itsmRequestsPerSecond, burst: 5 }
    })
    return AdapterRegistry.fromAdapters([adapter])
  })
).pipe(Layer.provide(Layer.merge(NodeHttpClient.layerUndici, RateBudget.layer)))

const RuntimeLive = Layer.unwrapEffect(Effect.map(ServerConfig, (config) => {
  const shardingConfig = {
    shardLockExpiration: `${config.shardLockExpirationSeconds} seconds` as const,
    shardLockRefreshInterval: `${Math.max(1, Math.floor(config.shardLockExpirationSeconds / 3))} seconds` as const
  }
  return Option.match(config.runnerPort, {
    onNone: () => SyncRuntime.layerSingleNode({ adapters: [TableApiAdapter.ADAPTER_NAME] }),
    onSome: (port) =>
      SyncRuntime.layerClusterNode({
        adapters: [TableApiAdapter.ADAPTER_NAME],
        runnerAddress: { host: config.runnerHost, port },
        shardingConfig
      })
  })
}))

const SchedulesLive = Layer.unwrapEffect(Effect.map(ServerConfig, (config) =>
  Schedules.layer({
    sources: [{ orgId: config.orgId, adapter: TableApiAdapter.ADAPTER_NAME }],
    delta: config.scheduleDelta === "off" ? null : config.scheduleDelta,
    reconciliation: config.scheduleReconciliation === "off" ? null : config.scheduleReconciliation
  })))

const EngineConfigLive = Layer.unwrapEffect(Effect.map(ServerConfig, (config) =>
  EngineConfig.layer({
    pageSize: config.pageSize,
    ...Option.match(config.maxRowsInFlight, { onNone: () => ({}), onSome: (maxRowsInFlight) => ({ maxRowsInFlight }) }),
    ...Option.match(config.nodeName, { onNone: () => ({}), onSome: (nodeName) => ({ nodeName }) })
  })))

/** `API_TOKENS` is `token=org[:admin],…`: each token reads one org, and may start runs with `:admin`. */
export const parseApiTokens = (spec: string): DashboardAccess.AccessConfigInput =>
  Object.fromEntries(spec.split(",").map((part) => part.trim()).filter((part) => part !== "").map((part) => {
    const [token, grant = ""] = part.split("=")
    const [org, scope] = grant.split(":")
    if (!token || !org) throw new Error(`API_TOKENS: expected token=org[:admin], got "${part}"`)
    const scopes: ReadonlyArray<"read" | "admin"> = scope === "admin" ? ["read", "admin"] : ["read"]
    return [token, { orgs: [org] as const, scopes }]
  }))

const AccessLive = Layer.unwrapEffect(Effect.map(ServerConfig, (config) =>
  DashboardAccess.layer(parseApiTokens(Redacted.value(config.apiTokens)))))

const HttpLive = Layer.unwrapEffect(Effect.map(ServerConfig, (config) =>
  HttpLayerRouter.serve(Layer.mergeAll(
    DashboardApi.routes,
    WebPage.routes,
    Observability.routes,
    Webhooks.routes({ secret: config.webhookSecret, adapter: TableApiAdapter.ADAPTER_NAME, orgs: [config.orgId] }),
    SyncRpc.layerHttpServer({ path: "/rpc" })
  ), { disableListenLog: true, disableLogger: true }).pipe(
    // The overview and risk reads are answered in front of the router when they can be (FastReads).
    Layer.provideMerge(
      FastReads.layerServer({ port: config.port, host: "0.0.0.0" }, { maxAgeMillis: config.overviewMaxAgeMillis })
    )
  )))

/** A first full sync when this org has never synced; progress in the log. */
const firstSync = Effect.gen(function*() {
  const engine = yield* SyncEngine.SyncEngine
  const sql = yield* SqlClient.SqlClient
  const config = yield* ServerConfig
  const graph = yield* DependencyGraph.build(ItsmEntities.itsmManifest)
  for (const dropped of graph.droppedEdges.filter((e) => e.reason !== "shadowed-by-hard")) {
    yield* Effect.logWarning(dropped.message)
  }
  const previous = yield* sql<{ n: number }>`
    SELECT count(*)::int AS n FROM sync_runs WHERE org_id = ${config.orgId} AND status IN ('succeeded', 'partial', 'running')`
  if (previous[0]!.n > 0) return
  const started = yield* Effect.either(engine.startRun(
    new SyncRun.StartRunRequest({ orgId: config.orgId, adapter: TableApiAdapter.ADAPTER_NAME, syncType: "full" })
  ))
  if (started._tag === "Left") {
    // Another node of the cluster started it first.
    return yield* Effect.logInfo(`first sync not started here: ${started.left.message}`)
  }
  const run = started.right
  yield* Effect.logInfo(`first full sync: run ${run.runId}, levels ${JSON.stringify(graph.levels)}`)
  yield* engine.watchRun(run.runId).pipe(
    Stream.runForEach((event) => {
      switch (event._tag) {
        case "EntityFinished":
          return Effect.logInfo(`${event.entity}: ${event.status}, ${event.records} records in ${event.pages} pages`)
        case "RunFinished":
          return Effect.logInfo(`first sync ${event.status}${event.error ? `: ${event.error}` : ""}`)
        default:
          return Effect.void
      }
    })
  )
})

const program = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  const base = `http://127.0.0.1:${port}`
  yield* Effect.logInfo(
    `Tidemark listening on ${base}: web page ${base}/, API docs ${base}/api/docs, RPC ${base}/rpc, ` +
      `health ${base}/healthz, metrics ${base}/metrics`
  )
  yield* firstSync.pipe(Effect.catchAllCause((cause) => Effect.logError("first sync failed", cause)))
  return yield* Effect.never
})

const Live = HttpLive.pipe(
  Layer.provide(AccessLive),
  Layer.provide(Layer.effectDiscard(DashboardMigrations.run)),
  Layer.provideMerge(SchedulesLive),
  Layer.provideMerge(RuntimeLive),
  Layer.provideMerge(RegistryLive),
  Layer.provideMerge(EngineConfigLive),
  Layer.provideMerge(SourceLive),
  Layer.provideMerge(Layer.unwrapEffect(Effect.map(ServerConfig, (config) =>
    Database.layer({
      embeddedDataDir: Option.getOrElse(config.dataDir, () => defaultDataDir),
      ...Option.match(config.postgresSharedBuffers, { onNone: () => ({}), onSome: (sharedBuffers) => ({ sharedBuffers }) }),
      ...Option.match(config.postgresMaxWalSize, { onNone: () => ({}), onSome: (maxWalSize) => ({ maxWalSize }) })
    }))))
)

NodeRuntime.runMain(program.pipe(Effect.provide(Live)))
