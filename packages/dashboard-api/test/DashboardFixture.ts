/**
 * The whole stack for API tests: a fresh database, two ITSM simulators (org `acme` and org `globex`,
 * different seeds, so different records), one adapter per org, a single-node sync runtime, the
 * dashboard migrations, and the API served on a free port. Like sync-engine's SyncFixture, with a
 * second org for isolation tests.
 */
import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql"
import { RateBudget } from "@tidemark/adapter-core"
import { TableApiAdapter } from "@tidemark/itsm-adapter"
import { ItsmSimulator, type SimulatorHandle, type SimulatorOptions } from "@tidemark/itsm-adapter/simulator"
import { AdapterRegistry, Database, EngineConfig, SyncEngine, SyncRun, SyncRuntime } from "@tidemark/sync-engine"
import { Context, Effect, Layer, Redacted, Schedule } from "effect"
import { inject } from "vitest"
import { DashboardAccess, DashboardApi, DashboardMigrations, FastReads } from "../src/index.js"

export const ORG = "acme"
export const OTHER_ORG = "globex"

export const TOKENS = {
  "acme-reader": { orgs: [ORG] },
  "acme-admin": { orgs: [ORG], scopes: ["read", "admin"] },
  "globex-reader": { orgs: [OTHER_ORG] },
  "both-reader": { orgs: [ORG, OTHER_ORG] }
} satisfies DashboardAccess.AccessConfigInput

export const counts = {
  sys_user: 120,
  sys_user_group: 10,
  cmdb_ci: 150,
  change_request: 300,
  problem: 50,
  incident: 900,
  em_event: 2000
}

export const BASE_TIME = "2026-06-01 12:00:00"

/** The simulator of the second org. */
export class OtherSimulator extends Context.Tag("test/OtherSimulator")<OtherSimulator, SimulatorHandle>() {}

const simulatorOptions = (seed: number, overrides?: SimulatorOptions): SimulatorOptions => ({
  seed,
  counts,
  baseTime: BASE_TIME,
  clock: "manual",
  ...overrides
})

const adapterFor = (sim: SimulatorHandle, org: string) =>
  TableApiAdapter.make({
    baseUrl: sim.url,
    org,
    auth: {
      _tag: "OAuthClientCredentials",
      tokenUrl: `${sim.url}/oauth_token.do`,
      clientId: sim.credentials.clientId,
      clientSecret: Redacted.make(sim.credentials.clientSecret)
    },
    retryBaseMillis: 5,
    retryMaxMillis: 20
  })

/** What tests use from the stack. */
export type Services =
  | HttpServer.HttpServer
  | SyncEngine.SyncEngine
  | ItsmSimulator.ItsmSimulator
  | OtherSimulator
  | SqlClient.SqlClient
  | FastReads.FastReads

// The error type is left wide: naming it would mean naming engine-internal modules in declarations.
export const layer = (
  options: {
    readonly prefix: string
    readonly simulator?: SimulatorOptions
    /** The overview snapshots' max age (default theirs, 1 s). */
    readonly overviewMaxAgeMillis?: number
  }
): Layer.Layer<Services, unknown> => {
  const simulators = Layer.merge(
    ItsmSimulator.layer(simulatorOptions(11, options.simulator)),
    Layer.scoped(OtherSimulator, ItsmSimulator.make(simulatorOptions(12, options.simulator)))
  )
  const registry = Layer.effect(
    AdapterRegistry.AdapterRegistry,
    Effect.gen(function*() {
      const acme = yield* adapterFor(yield* ItsmSimulator.ItsmSimulator, ORG)
      const globex = yield* adapterFor(yield* OtherSimulator, OTHER_ORG)
      return AdapterRegistry.fromAdapters([acme, globex])
    })
  ).pipe(Layer.provide(Layer.merge(NodeHttpClient.layerUndici, RateBudget.layer)))
  const runtime = SyncRuntime.layerSingleNode({ adapters: [TableApiAdapter.ADAPTER_NAME] })
  const migrated = Layer.effectDiscard(DashboardMigrations.run)
  // Served as the server serves it: the fast reads in front of the router.
  const api = HttpLayerRouter.serve(DashboardApi.routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(FastReads.layerServer(
      { port: 0, host: "127.0.0.1" },
      options.overviewMaxAgeMillis === undefined ? {} : { maxAgeMillis: options.overviewMaxAgeMillis }
    )),
    Layer.provide(DashboardAccess.layer(TOKENS))
  )
  return api.pipe(
    Layer.provideMerge(migrated),
    Layer.provideMerge(runtime),
    Layer.provideMerge(registry),
    Layer.provideMerge(EngineConfig.layer({ pageSize: 200 })),
    Layer.provideMerge(simulators),
    Layer.provideMerge(Database.layerFresh(Redacted.make(inject("adminDatabaseUrl")), options.prefix))
  )
}

/** Waits until a run has ended and returns it. */
export const awaitRun = (runId: string) =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine.SyncEngine
    const finished = (run: SyncRun.Run) => run.status !== "pending" && run.status !== "running"
    yield* engine.getRun(runId).pipe(
      Effect.orDie,
      Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: finished }),
      Effect.timeoutFail({ duration: "120 seconds", onTimeout: () => new Error(`run ${runId} did not finish`) }),
      Effect.orDie
    )
    return yield* Effect.orDie(engine.getRun(runId))
  })

/** Starts a run of every entity of an org and waits for it. */
export const sync = (orgId: string, syncType: SyncRun.SyncType) =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine.SyncEngine
    const started = yield* engine.startRun(new SyncRun.StartRunRequest({ orgId, adapter: "itsm", syncType }))
    return yield* awaitRun(started.runId)
  })

/** The API's base URL (`http://127.0.0.1:<port>`). */
export const baseUrl = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : "")

export interface Response {
  readonly status: number
  readonly body: any // `any`: tests read whatever JSON came back and assert on it
  readonly millis: number
}

/** A request to the API with a token (or none), as a client would send it. */
export const call = (path: string, options: { readonly token?: string; readonly method?: string; readonly body?: unknown; readonly headers?: Record<string, string> } = {}) =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    return yield* Effect.promise(async (): Promise<Response> => {
      const started = performance.now()
      const response = await fetch(`${base}${path}`, {
        method: options.method ?? "GET",
        headers: {
          ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
          ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
          ...options.headers
        },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {})
      })
      const text = await response.text()
      const millis = performance.now() - started
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // Not JSON (the docs page): kept as text.
      }
      return { status: response.status, body, millis }
    })
  })

/** The simulator clock as an ISO date-time (the `asOf` of deterministic requests). */
export const simulatorNow = (sim: SimulatorHandle) =>
  Effect.map(sim.now(), (now) => `${now.replace(" ", "T")}Z`)
