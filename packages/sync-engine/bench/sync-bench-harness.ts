/**
 * The moving parts of `bench:sync`: one Postgres for the whole run, simulators and sync nodes as child
 * processes (each killed by its PID when its scope closes, whatever happened), the simulator's control
 * API, and the run history read back from Postgres, whose clock times every run.
 */
import { SqlClient } from "@effect/sql"
import { SimulatorProcess } from "@tidemark/itsm-adapter/simulator"
import { Effect, Redacted, Schema } from "effect"
import { spawn } from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"
import * as Url from "node:url"
import * as Database from "../src/Database.js"
import * as EmbeddedPostgres from "../src/EmbeddedPostgres.js"
import * as ServerFeatures from "../src/internal/serverFeatures.js"
import { MARKER, type RunCommand, type RunReply } from "./sync-bench-protocol.js"
import type { PageTiming } from "./sync-bench-spans.js"

/** `DATABASE_URL`, or an embedded Postgres with real durability settings in a temporary folder. */
export const adminDatabaseUrl = Effect.gen(function*() {
  const configured = process.env.DATABASE_URL
  if (configured !== undefined && configured !== "") return Redacted.make(configured)
  const dataDir = yield* EmbeddedPostgres.temporaryDataDir("tidemark-bench-sync-")
  const running = yield* EmbeddedPostgres.start({ dataDir, persistent: false, unsafeFast: false })
  yield* Effect.logInfo("embedded Postgres started").pipe(Effect.annotateLogs({ port: running.port }))
  return Redacted.make(running.url)
})

export interface SimulatorOptions {
  readonly incidents: number
  readonly latencyMs?: number
  readonly seed?: number
}

export interface Simulator {
  readonly url: string
  readonly pid: number
}

/** The ITSM simulator as its own process (its own core: the source is not what is measured). */
export const startSimulator = (options: SimulatorOptions) =>
  Effect.gen(function*() {
    const started = performance.now()
    const sim = yield* SimulatorProcess.start([
      "--scale", "demo",
      "--incidents", String(options.incidents),
      "--seed", String(options.seed ?? 7),
      "--latency-ms", String(options.latencyMs ?? 0)
    ])
    yield* Effect.logInfo("simulator started").pipe(Effect.annotateLogs({
      incidents: options.incidents,
      latencyMs: options.latencyMs ?? 0,
      pid: sim.pid,
      seconds: seconds(performance.now() - started)
    }))
    return { url: sim.url, pid: sim.pid } satisfies Simulator
  })

const control = <A>(sim: Simulator, method: "GET" | "POST", path: string, body?: unknown) =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(`${sim.url}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      const text = await response.text()
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`)
      return JSON.parse(text) as A
    },
    catch: (cause) => new Error(`simulator control ${path} failed: ${String(cause)}`)
  })

/** Updates `count` distinct live records of `table`, all stamped with the simulator clock's second. */
export const mutateUpdates = (sim: Simulator, table: string, count: number) =>
  Effect.map(
    control<{ updated: ReadonlyArray<string>; at: string }>(sim, "POST", "/__sim/mutate", { table, updates: count }),
    (result) => ({ updated: result.updated.length, at: result.at })
  )

export const advanceClock = (sim: Simulator, seconds: number) =>
  control<{ now: string }>(sim, "POST", "/__sim/clock", { advanceSeconds: seconds })

/** Table API requests the simulator answered (its request log; the control API is not in it). */
export const tableRequests = (sim: Simulator) =>
  Effect.map(
    control<ReadonlyArray<{ table: string | null; status: number }>>(sim, "GET", "/__sim/requests"),
    (entries) => entries.filter((entry) => entry.table !== null)
  )

export interface SyncNode {
  readonly pid: number
  /** Starts a run on the node and waits for it to end. */
  readonly run: (command: RunCommand) => Effect.Effect<RunReply, Error>
}

const nodeScript = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), "sync-bench-node.ts")

/**
 * A sync node process (see `sync-bench-node.ts`), ready once it hosts its workflows. Closing the scope
 * closes its stdin (a clean shutdown that releases its shards), then kills it by PID if it lingers.
 */
export const startNode = (env: {
  readonly databaseUrl: Redacted.Redacted
  readonly simulator: Simulator
  readonly pageSize: number
  readonly rateLimitRps?: number
  /** EngineConfig `fullSyncPartitions`; default the engine's. */
  readonly partitions?: number
}) =>
  Effect.acquireRelease(
    Effect.async<{ readonly node: SyncNode; readonly stop: () => Promise<void> }, Error>((resume) => {
      // `node --import tsx` (not `npx tsx`): one process, so its PID is the node itself.
      const child = spawn(process.execPath, ["--import", "tsx", nodeScript], {
        env: {
          ...process.env,
          DATABASE_URL: Redacted.value(env.databaseUrl),
          ITSM_BASE_URL: env.simulator.url,
          PAGE_SIZE: String(env.pageSize),
          ...(env.rateLimitRps === undefined ? {} : { RATE_LIMIT_RPS: String(env.rateLimitRps) }),
          ...(env.partitions === undefined ? {} : { FULL_SYNC_PARTITIONS: String(env.partitions) })
        },
        stdio: ["pipe", "pipe", "inherit"]
      })
      const waiting: Array<{ resolve: (reply: RunReply) => void; reject: (error: Error) => void }> = []
      let ready = false
      let exited: number | null | undefined
      const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      const stop = async () => {
        if (exited === undefined) child.stdin.end()
        const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 10_000).unref())
        if ((await Promise.race([exit, timer])) === "timeout") child.kill("SIGKILL")
        await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 2_000).unref())])
      }
      const node: SyncNode = {
        pid: child.pid!,
        run: (command) =>
          Effect.async<RunReply, Error>((resumeRun) => {
            if (exited !== undefined) return resumeRun(Effect.fail(new Error(`sync node ${child.pid} has exited`)))
            const waiter = {
              resolve: (reply: RunReply) => resumeRun(Effect.succeed(reply)),
              reject: (error: Error) => resumeRun(Effect.fail(error))
            }
            waiting.push(waiter)
            child.stdin.write(`${JSON.stringify(command)}\n`)
            // Interrupted (a timeout): the run goes on in the node, whose answer must not reach a later
            // caller; the node is not used again (see `CachePool.close`) and is stopped with its scope.
            return Effect.sync(() => {
              waiting.splice(waiting.indexOf(waiter), 1, { resolve: () => {}, reject: () => {} })
            })
          })
      }
      Readline.createInterface({ input: child.stdout }).on("line", (line) => {
        if (!line.startsWith(MARKER)) {
          process.stderr.write(`[node ${child.pid}] ${line}\n`)
          return
        }
        const message = JSON.parse(line.slice(MARKER.length)) as RunReply | { readonly ready: true }
        if ("ready" in message) {
          ready = true
          resume(Effect.succeed({ node, stop }))
        } else {
          waiting.shift()?.resolve(message)
        }
      })
      child.once("exit", (code) => {
        exited = code
        const error = new Error(`sync node ${child.pid} exited with code ${code}`)
        for (const waiter of waiting.splice(0)) waiter.reject(error)
        if (!ready) resume(Effect.fail(error))
      })
      return Effect.sync(() => child.kill("SIGKILL"))
    }),
    ({ stop }) => Effect.promise(stop)
  ).pipe(Effect.map(({ node }) => node))

/** A fresh database of its own on the bench's Postgres, dropped when the scope closes. */
export const freshDatabase = (adminUrl: Redacted.Redacted, prefix: string) => Database.freshDatabase(adminUrl, prefix)

/**
 * Checkpoints the server has begun, timed or requested, since its statistics were reset: counted
 * around a timed window, whether one fell in it (Postgres 17 moved the counters to their own view).
 */
export const checkpointsBegun = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = (yield* ServerFeatures.serverVersion(sql)) >= 170000
    ? yield* sql<{ checkpoints: string }>`
        SELECT (num_timed + num_requested)::text AS checkpoints FROM pg_stat_checkpointer`
    : yield* sql<{ checkpoints: string }>`
        SELECT (checkpoints_timed + checkpoints_req)::text AS checkpoints FROM pg_stat_bgwriter`
  return Number(row!.checkpoints)
})

/** A checkpoint now, waited for. */
export const checkpoint = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CHECKPOINT`)

/** Runs `effect` with a small `SqlClient` pool on `url`. */
export const withSql = <A, E>(url: Redacted.Redacted, effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.scoped(Effect.provide(effect, Database.layerFromUrl(url, 2)))

const EntityRunTiming = Schema.Struct({
  entity: Schema.String,
  status: Schema.String,
  pages: Schema.Number,
  records: Schema.Number,
  inserted: Schema.Number,
  updated: Schema.Number,
  seconds: Schema.NullOr(Schema.NumberFromString),
  /** When the entity run started and finished, in seconds after the run was requested. */
  started_after: Schema.NullOr(Schema.NumberFromString),
  finished_after: Schema.NullOr(Schema.NumberFromString)
})

export interface RunTiming {
  readonly runId: string
  readonly status: string
  /** From `startRun` (the request's insert) to the run's end, on the Postgres clock. */
  readonly seconds: number
  readonly entities: ReadonlyMap<string, typeof EntityRunTiming.Type>
}

/** A run's wall time and its entity runs' own (`started_at` to `finished_at`), from the history. */
export const runTiming = (runId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [run] = yield* sql<{ status: string; seconds: string | null }>`
      SELECT status, extract(epoch FROM finished_at - requested_at)::text AS seconds
      FROM sync_runs WHERE run_id = ${runId}`
    if (run === undefined) return yield* Effect.dieMessage(`run ${runId} is not in sync_runs`)
    const rows = yield* sql`
      SELECT e.entity, e.status, e.pages, e.records, e.inserted, e.updated,
        extract(epoch FROM e.finished_at - e.started_at)::text AS seconds,
        extract(epoch FROM e.started_at - r.requested_at)::text AS started_after,
        extract(epoch FROM e.finished_at - r.requested_at)::text AS finished_after
      FROM sync_entity_runs e JOIN sync_runs r USING (run_id) WHERE e.run_id = ${runId}`
    const entities = yield* Schema.decodeUnknown(Schema.Array(EntityRunTiming))(rows).pipe(Effect.orDie)
    const timing: RunTiming = {
      runId,
      status: run.status,
      seconds: Number(run.seconds),
      entities: new Map(entities.map((entity) => [entity.entity, entity]))
    }
    return timing
  })

/** Where time went in a run: each entity run's start and end, in seconds after the request. */
export const timeline = (timing: RunTiming) =>
  [...timing.entities.values()]
    .sort((a, b) => (a.started_after ?? 0) - (b.started_after ?? 0))
    .map((e) => `${e.entity} ${e.started_after?.toFixed(2)}..${e.finished_after?.toFixed(2)}s (${e.pages} pages)`)
    .join(", ")

/**
 * Pages and records per partition of an entity run (page numbers interleave the partitions of a full
 * sync: page n belongs to partition (n - 1) mod count), and when each partition's last page committed.
 */
export const partitionBalance = (runId: string, entity: string, partitions: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ partition: number; pages: number; records: number; last_after: string }>`
      SELECT (p.page_no - 1) % ${partitions} AS partition, count(*)::int AS pages, sum(p.records)::int AS records,
        round(extract(epoch FROM max(p.committed_at) - min(r.requested_at)), 2)::text AS last_after
      FROM sync_pages p JOIN sync_runs r USING (run_id)
      WHERE p.run_id = ${runId} AND p.entity = ${entity}
      GROUP BY 1 ORDER BY 1`
    return rows.map((row) => `#${row.partition}: ${row.pages} pages, ${row.records} records, done at ${row.last_after}s`)
      .join("; ")
  })

/** A full sync of the incidents: its run, its incident entity run, and the span timings of its pages. */
export interface FullSync {
  readonly timing: RunTiming
  readonly incident: typeof EntityRunTiming.Type & { readonly seconds: number }
  readonly pages: ReadonlyArray<PageTiming>
}

/** Starts a run on `node`, waits for it, and reads its timings; fails unless it succeeded. */
export const timedRun = (node: SyncNode, databaseUrl: Redacted.Redacted, command: RunCommand) =>
  Effect.gen(function*() {
    const reply = yield* node.run(command)
    if (reply.status !== "succeeded") {
      return yield* Effect.fail(new Error(`run ${command.runId} ended ${reply.status}: ${reply.error ?? ""}`))
    }
    const timing = yield* withSql(databaseUrl, runTiming(command.runId))
    const memory = {
      maxRssMb: reply.maxRssMb,
      heapUsedPeakMb: reply.heapUsedPeakMb,
      heapTotalPeakMb: reply.heapTotalPeakMb,
      externalPeakMb: reply.externalPeakMb
    }
    return { timing, ...memory, pages: reply.pages }
  })

export const seconds = (millis: number) => Math.round(millis) / 1000

export const round = (value: number, digits = 3) => Number(value.toFixed(digits))

export const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2
}
