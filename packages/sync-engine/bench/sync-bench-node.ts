/**
 * A sync node for `bench:sync`, as its own process: the whole single-node stack (cluster runtime,
 * workflows, ITSM adapter) on `DATABASE_URL` against the simulator at `ITSM_BASE_URL`. Its own process
 * so that its peak RSS is the sync's alone, and so that it has a core of its own as a real node would.
 *
 *   DATABASE_URL=…  ITSM_BASE_URL=…  [PAGE_SIZE=2000]  [RATE_LIMIT_RPS=10]  [FULL_SYNC_PARTITIONS=4] \
 *   [MAX_ROWS_IN_FLIGHT=4000]  [MEMORY_TRACE=/tmp/memory]  [CPU_PROFILE=/tmp/profile] \
 *     node --import tsx sync-bench-node.ts
 *
 * Protocol (stdout lines starting with `@@bench `; every other stdout line is a log line):
 * - once the node hosts its workflows: `@@bench {"ready":true,"pid":…}`;
 * - then one command per stdin line, `{"runId":…,"syncType":"full"|"delta","entities":["incident"]}`,
 *   answered when the run has ended by `@@bench {"runId","status","error","maxRssMb",…}`, where
 *   `maxRssMb` is this process's peak RSS so far (`process.resourceUsage().maxRSS`) and the other
 *   fields the peaks of its heap and external memory (see `RunReply`);
 * - closing stdin shuts the node down cleanly (its shards released) and exits.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { RateBudget } from "@tidemark/adapter-core"
import { TableApiAdapter } from "@tidemark/itsm-adapter"
import { Cause, Config, Effect, Layer, Logger, LogLevel, Option, Redacted, Schema, Stream } from "effect"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector/promises"
import * as Readline from "node:readline"
import * as AdapterRegistry from "../src/AdapterRegistry.js"
import * as Database from "../src/Database.js"
import * as EngineConfig from "../src/EngineConfig.js"
import { SyncEngine } from "../src/SyncEngine.js"
import * as SyncRuntime from "../src/SyncRuntime.js"
import { StartRunRequest } from "../src/SyncRun.js"
import { MARKER, ORG, RunCommand, type RunReply } from "./sync-bench-protocol.js"
import { makeRecorder } from "./sync-bench-spans.js"

const reply = (value: unknown) => Effect.sync(() => process.stdout.write(`${MARKER}${JSON.stringify(value)}\n`))

const megabytes = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10

const peakRssMb = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10

/**
 * Peaks of `process.memoryUsage()` sampled every 100 ms (what the RSS is made of: V8 heap or
 * buffers outside it), and, with `MEMORY_TRACE=<prefix>`, every sample as a line of `<prefix>.<pid>`.
 */
const memoryPeaks = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 }
const trace = process.env.MEMORY_TRACE === undefined ? undefined : `${process.env.MEMORY_TRACE}.${process.pid}`
const traceStarted = performance.now()
setInterval(() => {
  const usage = process.memoryUsage()
  memoryPeaks.heapUsed = Math.max(memoryPeaks.heapUsed, usage.heapUsed)
  memoryPeaks.heapTotal = Math.max(memoryPeaks.heapTotal, usage.heapTotal)
  memoryPeaks.external = Math.max(memoryPeaks.external, usage.external)
  memoryPeaks.arrayBuffers = Math.max(memoryPeaks.arrayBuffers, usage.arrayBuffers)
  if (trace !== undefined) {
    const seconds = ((performance.now() - traceStarted) / 1000).toFixed(1)
    Fs.appendFileSync(
      trace,
      `${seconds} rss=${megabytes(usage.rss)} heapUsed=${megabytes(usage.heapUsed)} heapTotal=${
        megabytes(usage.heapTotal)
      } external=${megabytes(usage.external)} arrayBuffers=${megabytes(usage.arrayBuffers)}\n`
    )
  }
}, 100).unref()

const memory = () => ({
  maxRssMb: peakRssMb(),
  heapUsedPeakMb: megabytes(memoryPeaks.heapUsed),
  heapTotalPeakMb: megabytes(memoryPeaks.heapTotal),
  externalPeakMb: megabytes(memoryPeaks.external)
})

const spans = makeRecorder()

const runOne = (command: RunCommand) =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine
    spans.take()
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
    const reply: RunReply = { runId: run.runId, status: run.status, error: run.error, ...memory(), pages: spans.take() }
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
          reply({ runId: null, status: "error", error: Cause.pretty(cause), ...memory(), pages: [] })
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
      partitions: Config.option(Config.integer("FULL_SYNC_PARTITIONS")),
      rowsInFlight: Config.option(Config.integer("MAX_ROWS_IN_FLIGHT"))
    }),
    ({ pageSize, partitions, rowsInFlight }) =>
      EngineConfig.layer({
        pageSize,
        ...Option.match(partitions, { onNone: () => ({}), onSome: (fullSyncPartitions) => ({ fullSyncPartitions }) }),
        ...Option.match(rowsInFlight, { onNone: () => ({}), onSome: (maxRowsInFlight) => ({ maxRowsInFlight }) })
      })
  ))),
  Layer.provideMerge(Layer.unwrapEffect(Effect.map(Config.redacted("DATABASE_URL"), (url) => Database.layerFromUrl(url))))
)

/** With `CPU_PROFILE=<prefix>`, a V8 CPU profile of the whole process, written to `<prefix>.<pid>.cpuprofile` at shutdown. */
const profiling = process.env.CPU_PROFILE === undefined ? undefined : (async () => {
  const session = new Inspector.Session()
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.start")
  return session
})()

const writeProfile = async () => {
  if (profiling === undefined) return
  const session = await profiling
  const { profile } = await session.post("Profiler.stop")
  Fs.writeFileSync(`${process.env.CPU_PROFILE}.${process.pid}.cpuprofile`, JSON.stringify(profile))
}

process.stdin.once("end", () => {
  // The runtime should close within a second or two; never linger as an orphan if it does not.
  setTimeout(() => process.exit(0), 15_000).unref()
})

Effect.runPromiseExit(
  program.pipe(Effect.provide(Live), Effect.withTracer(spans.tracer), Logger.withMinimumLogLevel(LogLevel.Warning))
).then((exit) => {
  if (exit._tag === "Failure") process.stderr.write(`sync-bench-node failed: ${Cause.pretty(exit.cause)}\n`)
  return writeProfile().finally(() => process.exit(exit._tag === "Failure" ? 1 : 0))
})
