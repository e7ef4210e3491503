/**
 * `pnpm start`: Postgres (embedded unless DATABASE_URL is set), the ITSM simulator as the default
 * source, and the ITSM adapter pointed at it. The durable sync engine, RPC, CLI and dashboard are
 * layered on here as they land (see the README's status section).
 */
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { DependencyGraph, RateBudget } from "@tidemark/adapter-core"
import { ItsmEntities, TableApiAdapter } from "@tidemark/itsm-adapter"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { Database } from "@tidemark/sync-engine"
import { Config, Effect, Layer, Option, Redacted } from "effect"
import * as Path from "node:path"

const dataDir = Path.resolve(import.meta.dirname, "..", "..", "..", ".data", "postgres")

const program = Effect.gen(function*() {
  const simulatorPort = yield* Config.integer("SIMULATOR_PORT").pipe(Config.withDefault(0))
  const sim = yield* ItsmSimulator.make({ port: simulatorPort, scale: "demo", latency: { ms: 150, jitterMs: 100 } })
  yield* Effect.logInfo(`ITSM simulator: ${sim.url} (client ${sim.credentials.clientId})`)

  const sql = yield* PgClient.PgClient
  const [version] = yield* sql<{ version: string }>`SELECT current_setting('server_version') AS version`
  yield* Effect.logInfo(`Postgres ${version!.version} ready`)

  const graph = yield* DependencyGraph.build(ItsmEntities.itsmManifest)
  for (const dropped of graph.droppedEdges.filter((e) => e.reason !== "shadowed-by-hard")) {
    yield* Effect.logWarning(dropped.message)
  }
  yield* Effect.logInfo(`Sync plan (levels): ${JSON.stringify(graph.levels)}`)

  const adapter = yield* TableApiAdapter.make({
    baseUrl: sim.url,
    org: "demo",
    auth: {
      _tag: "OAuthClientCredentials",
      tokenUrl: `${sim.url}/oauth_token.do`,
      clientId: sim.credentials.clientId,
      clientSecret: Redacted.make(sim.credentials.clientSecret)
    }
  })
  for (const entity of graph.levels.flat()) {
    const page = yield* adapter.fetchPage({ entity, after: Option.none(), limit: 100 })
    const newest = yield* adapter.highWater(entity)
    yield* Effect.logInfo(
      `${entity}: first page ${page.records.length} records, newest change ${
        Option.match(newest, { onNone: () => "none", onSome: (d) => d.toISOString() })
      }`
    )
  }
  yield* Effect.logInfo("Source reachable and plan resolved. Durable sync runs, RPC, CLI and the dashboard come next.")
  return yield* Effect.never
})

const Live = Layer.mergeAll(
  Database.layer({ embeddedDataDir: dataDir }),
  NodeHttpClient.layerUndici,
  RateBudget.layer
)

NodeRuntime.runMain(program.pipe(Effect.scoped, Effect.provide(Live)))
