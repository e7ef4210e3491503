/**
 * A sync node for `bench:sync`, as its own process: the whole single-node stack (cluster runtime,
 * workflows, ITSM adapter) on `DATABASE_URL` against the simulator at `ITSM_BASE_URL`. Its own process
 * so that its peak RSS is the sync's alone, and so that it has a core of its own as a real node would.
 *
 *   DATABASE_URL=…  ITSM_BASE_URL=…  [PAGE_SIZE=2000]  [RATE_LIMIT_RPS=10]  [FULL_SYNC_PARTITIONS=4] \
 *     node --import tsx sync-bench-node.ts
 *
 * Protocol (stdout lines starting with `@@bench `; every other stdout line is a log line):
 * - once the node hosts its workflows: `@@bench {"ready":true,"pid":…}`;
 * - then one command per stdin line, `{"runId":…,"syncType":"full"|"delta","entities":["incident"]}`,
 *   answered when the run has ended by `@@bench {"runId","status","error","maxRssMb"}`, where
 *   `maxRssMb` is this process's peak RSS so far (`process.resourceUsage().maxRSS`);
 * - closing stdin shuts the node down cleanly (its shards released) and exits.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { RateBudget } from "@tidemark/adapter-core"
import { TableApiAdapter } from "@tidemark/itsm-adapter"
import { Cause, Config, Effect, Layer, Logger, LogLevel, Option, Redacted, Schema, Stream } from "effect"
import * as Readline from "node:readline"
import * as AdapterRegistry from "../src/AdapterRegistry.js"
import * as Database from "../src/Database.js"
import * as EngineConfig from "../src/EngineConfig.js"
import { SyncEngine } from "../src/SyncEngine.js"
import * as SyncRuntime from "../src/SyncRuntime.js"
import { StartRunRequest } from "../src/SyncRun.js"
import { MARKER, ORG, RunCommand, type RunReply } from "./sync-bench-protocol.js"

const reply = (value: unknown) => Effect.sync(() => process.stdout.write(`${MARKER}${JSON.stringify(value)}\n`))

const peakRssMb = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10

const runOne = (command: RunCommand) =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine
    yield* engine.startRun(
      new StartRunRequest({
        orgId: ORG,
        adapter: TableApiAdapter.ADAPTER_NAME,
        syncType: command.syncType,
        runId: command.runId,
        ...(command.entities ? { entities: command.entities } : {})
      })
    )
    // Timings come from the run history (Postgres clock), so this poll's interval does not blur them.
    let run = yield* engine.getRun(command.runId)
    while (run.status === "pending" || run.status === "running") {
      yield* Effect.sleep("100 millis")
      run = yield* engine.getRun(command.runId)
    }
    const reply: RunReply = { runId: run.runId, status: run.status, error: run.error, maxRssMb: peakRssMb() }
    return reply
  })

const program = Effect.gen(function*() {
  yield* reply({ ready: true, pid: process.pid })
  const input = Readline.createInterface({ input: process.stdin })
  yield* Stream.fromAsyncIterable(input, (error) => new Error(String(error))).pipe(
    Stream.filter((line) => line.trim() !== ""),
    Stream.runForEach((line) =>
      Schema.decodeUnknown(Schema.parseJson(RunCommand))(line).pipe(
        Effect.flatMap(runOne),
        Effect.flatMap(reply),
        Effect.catchAllCause((cause) =>
          reply({ runId: null, status: "error", error: Cause.pretty(cause), maxRssMb: peakRssMb() })
        )
      )
    )
  )
})

const registry = Layer.effect(
  AdapterRegistry.AdapterRegistry,
  Effect.gen(function*() {
    const baseUrl = yield* Config.string("ITSM_BASE_URL")
    const rateLimit = yield* Config.option(Config.number("RATE_LIMIT_RPS"))
    const adapter = yield* TableApiAdapter.make({
      baseUrl,
      org: ORG,
      auth: {
        _tag: "OAuthClientCredentials",
        tokenUrl: `${baseUrl}/oauth_token.do`,
        clientId: "tidemark",
        clientSecret: Redacted.make("tidemark-secret")
      },
      ...Option.match(rateLimit, {
        onNone: () => ({}),
        onSome: (requestsPerSecond) => ({ rateLimit: { requestsPerSecond } })
      })
    })
    return AdapterRegistry.fromAdapters([adapter])
  })
).pipe(Layer.provide(Layer.merge(NodeHttpClient.layerUndici, RateBudget.layer)))

const Live = SyncRuntime.layerSingleNode({ adapters: [TableApiAdapter.ADAPTER_NAME] }).pipe(
  Layer.provideMerge(registry),
  Layer.provideMerge(Layer.unwrapEffect(Effect.map(
    Config.all({
      pageSize: Config.integer("PAGE_SIZE").pipe(Config.withDefault(EngineConfig.defaults.pageSize)),
      partitions: Config.option(Config.integer("FULL_SYNC_PARTITIONS"))
    }),
    ({ pageSize, partitions }) =>
      EngineConfig.layer({
        pageSize,
        ...Option.match(partitions, { onNone: () => ({}), onSome: (fullSyncPartitions) => ({ fullSyncPartitions }) })
      })
  ))),
  Layer.provideMerge(Layer.unwrapEffect(Effect.map(Config.redacted("DATABASE_URL"), (url) => Database.layerFromUrl(url))))
)

process.stdin.once("end", () => {
  // The runtime should close within a second or two; never linger as an orphan if it does not.
  setTimeout(() => process.exit(0), 15_000).unref()
})

Effect.runPromiseExit(program.pipe(Effect.provide(Live), Logger.withMinimumLogLevel(LogLevel.Warning))).then((exit) => {
  if (exit._tag === "Failure") process.stderr.write(`sync-bench-node failed: ${Cause.pretty(exit.cause)}\n`)
  process.exit(exit._tag === "Failure" ? 1 : 0)
})
