/**
 * A whole sync stack for tests: a fresh database, the ITSM simulator over real HTTP, the ITSM adapter
 * for one org, and a single-node cluster runtime; plus helpers to compare the cache with the source.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { RateBudget } from "@tidemark/adapter-core"
import { TableApiAdapter } from "@tidemark/itsm-adapter"
import { ItsmSimulator, type SimulatorOptions } from "@tidemark/itsm-adapter/simulator"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { inject } from "vitest"
import * as AdapterRegistry from "../src/AdapterRegistry.js"
import * as Database from "../src/Database.js"
import * as EngineConfig from "../src/EngineConfig.js"
import { SyncEngine } from "../src/SyncEngine.js"
import * as SyncRuntime from "../src/SyncRuntime.js"
import type { Run } from "../src/SyncRun.js"

export const ORG = "acme"

export const smallCounts = {
  sys_user: 120,
  sys_user_group: 10,
  cmdb_ci: 150,
  change_request: 100,
  problem: 50,
  incident: 900,
  em_event: 250
}

export const layer = (options: {
  readonly prefix: string
  readonly simulator?: SimulatorOptions
  readonly adapter?: Partial<TableApiAdapter.ItsmAdapterOptions>
  readonly engine?: Partial<EngineConfig.EngineConfigShape>
}) => {
  const simulator = ItsmSimulator.layer({
    seed: 11,
    counts: smallCounts,
    baseTime: "2026-06-01 12:00:00",
    clock: "manual",
    ...options.simulator
  })
  const registry = Layer.effect(
    AdapterRegistry.AdapterRegistry,
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* TableApiAdapter.make({
        baseUrl: sim.url,
        org: ORG,
        auth: {
          _tag: "OAuthClientCredentials",
          tokenUrl: `${sim.url}/oauth_token.do`,
          clientId: sim.credentials.clientId,
          clientSecret: Redacted.make(sim.credentials.clientSecret)
        },
        retryBaseMillis: 5,
        retryMaxMillis: 20,
        ...options.adapter
      })
      return AdapterRegistry.fromAdapters([adapter])
    })
  ).pipe(Layer.provide(Layer.merge(NodeHttpClient.layerUndici, RateBudget.layer)))
  const runtime = SyncRuntime.layerSingleNode({ adapters: [TableApiAdapter.ADAPTER_NAME] })
  return runtime.pipe(
    Layer.provideMerge(registry),
    Layer.provideMerge(EngineConfig.layer({ pageSize: 100, ...options.engine })),
    Layer.provideMerge(simulator),
    Layer.provideMerge(Database.layerFresh(Redacted.make(inject("adminDatabaseUrl")), options.prefix))
  )
}

/** Waits until a run has ended and returns it. */
export const awaitRun = (runId: string): Effect.Effect<Run, Error, SyncEngine> =>
  Effect.flatMap(SyncEngine, (engine) =>
    engine.getRun(runId).pipe(
      Effect.orDie,
      Effect.filterOrFail((run) => run.status !== "pending" && run.status !== "running", () => "running" as const),
      Effect.retry({ schedule: Schedule.spaced("100 millis"), while: (e) => e === "running" }),
      Effect.timeoutFail({ duration: "90 seconds", onTimeout: () => new Error(`run ${runId} did not finish`) }),
      Effect.catchIf((e): e is "running" => e === "running", () => Effect.dieMessage("unreachable"))
    ))

/** The live cache rows of a table as the source sends them (raw), sorted by key. */
export const cacheOf = (entity: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ key: string; raw: Record<string, string> }>`
      SELECT key, raw FROM ${sql(`cache_itsm_${entity}`)} WHERE org_id = ${ORG} AND deleted_at IS NULL ORDER BY key`)

/** The simulator's live records of a table, sorted by key. */
export const truthOf = (entity: string): Effect.Effect<ReadonlyArray<Record<string, string>>, never, ItsmSimulator.ItsmSimulator> =>
  Effect.flatMap(ItsmSimulator.ItsmSimulator, (sim) =>
    Effect.map(Effect.orDie(sim.truth(entity)), (truth) =>
      [...truth.result].sort((a, b) => (a.sys_id < b.sys_id ? -1 : a.sys_id > b.sys_id ? 1 : 0))))

export const ENTITIES = ["sys_user", "sys_user_group", "cmdb_ci", "change_request", "problem", "em_event", "incident"]
