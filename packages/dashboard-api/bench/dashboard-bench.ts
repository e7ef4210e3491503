/**
 * The dashboard API over real HTTP on a large cache, against a bare `node:http` server as the ceiling:
 *
 *   pnpm bench:dashboard            1,000,000 incidents, 10 s per endpoint (about 3 minutes)
 *   pnpm bench:dashboard --quick    100,000 incidents, 5 s per endpoint (under a minute)
 *   options: --profile (the same overview body through more and more of the stack, then a CPU
 *            profile of the server under overview load and one under risk load; --profile-only skips
 *            the layers; --direct-only stops after the in-process reads), --pool=N (the API's Postgres pool, default
 *            20 as the server's), --seconds=N, --incidents=N
 *   DATABASE_URL=postgres://… uses that server (a fresh database on it) instead of an embedded one.
 *
 * 1. A fresh database; the dashboard migrations; then the cache loaded by set-based SQL
 *    (`dashboard-bench-data.ts`): incidents, their parents (users, groups, items, changes,
 *    problems), events, the change log, a week of run history, watermarks; counters kept by the
 *    trigger and checked against a rebuild.
 * 2. `DashboardApi.routes` served by `NodeHttpServer` on port 0 with a `DashboardAccess` token, as the
 *    server mounts it. The handlers need a `SyncEngine` in context, but only the admin endpoints call
 *    it: a stub that dies stands in for the runtime (no cluster, no workflow engine in the profile).
 * 3. A bare `node:http` server on port 0 answering the overview's own body, precomputed.
 * 4. autocannon (50 connections) against the bare server, `GET /api/v1/dashboard/overview`, and
 *    `GET /api/v1/incidents/{id}/risk` over 1,000 incident ids in turn, each after a short warm-up.
 *    autocannon runs as a child process (`dashboard-bench-load.ts`): in this process its request
 *    building and histogram work would take event-loop time from the server it measures. The machine
 *    still has only its cores: the child, the server and Postgres share them, for the bare server too.
 *
 * Prints JSON lines on stdout (progress on stderr):
 *   {"bench":"dashboard.load",…}      how the cache was loaded and how long each step took
 *   {"bench":"dashboard.direct",…}    the same reads called in-process without HTTP
 *   {"bench":"dashboard.overview","incidents","rps","bare_rps","ratio","p50_ms","p99_ms",…}  targets: ratio ≥ 0.5, p99 ≤ 10 ms
 *   {"bench":"dashboard.risk","rps","p50_ms","p99_ms",…}                                     target: p99 ≤ 20 ms
 *   {"bench":"dashboard.layers",…} and {"bench":"dashboard.overview.profile",…} with --profile
 * autocannon's percentiles are whole milliseconds. Each run also reports the CPU time the server
 * (this process) and Postgres spent per request, and the machine's load average: throughput moves
 * with whatever else the machine runs, CPU per request much less.
 */
import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Database, EmbeddedPostgres, SyncEngine } from "@tidemark/sync-engine"
import { Context, Duration, Effect, Layer, Logger, LogLevel, Redacted, Schema, Stream } from "effect"
import { spawn } from "node:child_process"
import { createServer } from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { DashboardAccess, DashboardApi, DashboardMigrations, FastReads, Security } from "../src/index.js"
import { Overview } from "../src/Models.js"
import { overview } from "../src/Overview.js"
import { riskOf } from "../src/Risk.js"
import * as Cpu from "./dashboard-bench-cpu.js"
import * as Data from "./dashboard-bench-data.js"
import * as Layers from "./dashboard-bench-layers.js"
import type { LoadResult, LoadSpec } from "./dashboard-bench-load.js"
import { profiled } from "./dashboard-bench-profile.js"

const args = process.argv.slice(2)
const flag = (name: string) => args.includes(`--${name}`)
const option = (name: string) => args.find((arg) => arg.startsWith(`--${name}=`))?.split("=")[1]
const QUICK = flag("quick")
const PROFILE = flag("profile")
/** With --profile: only the CPU profiles, not the ladder of layers. */
const PROFILE_ONLY = flag("profile-only")
const INCIDENTS = Number(option("incidents") ?? (QUICK ? 100_000 : 1_000_000))
const SECONDS = Number(option("seconds") ?? (QUICK ? 5 : 10))
const POOL = Number(option("pool") ?? 20)
const CONNECTIONS = 50
const WARMUP_SECONDS = 2
const RISK_IDS = 1_000

const ORG = "acme"
const TOKEN = "bench-reader-token"
const OVERVIEW_PATH = "/api/v1/dashboard/overview"

const here = Path.dirname(fileURLToPath(import.meta.url))
const repoRoot = Path.resolve(here, "../../..")
const progress = (line: string) => process.stderr.write(`[dashboard-bench] ${line}\n`)
const emit = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`)

/** Only the admin endpoints call the engine; the read endpoints this bench drives never do. */
const SyncEngineStub = Layer.succeed(SyncEngine.SyncEngine, (() => {
  const unused = (method: string) => () =>
    Effect.dieMessage(`dashboard bench: SyncEngine.${method} called, but the bench serves no engine`)
  return {
    startRun: unused("startRun"),
    getRun: unused("getRun"),
    listRuns: unused("listRuns"),
    watchRun: (runId: string) => Stream.fromEffect(unused("watchRun")()).pipe(Stream.as(runId as never)),
    cancelRun: unused("cancelRun"),
    plan: unused("plan")
  }
})())

/** The API as the server mounts it (plus the `--profile` layer routes), on a free loopback port. */
const serveApi = (extra: ReturnType<typeof Layers.routes> | undefined) =>
  Effect.gen(function*() {
    const routes = extra === undefined
      ? DashboardApi.routes
      : Layer.mergeAll(DashboardApi.routes, extra.pipe(Layer.provide(Security.layer)))
    const layer = HttpLayerRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(FastReads.layerServer({ port: 0, host: "127.0.0.1" })),
      Layer.provide(DashboardAccess.layer({ [TOKEN]: { orgs: [ORG] } })),
      Layer.provide(SyncEngineStub)
    )
    const context = yield* Layer.build(layer)
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("the API server has no TCP address")
    return `http://127.0.0.1:${address.port}`
  })

/** A `node:http` server answering every request with `body`: the ceiling of a JSON GET on this machine. */
const serveBare = (body: Buffer) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly close: () => void }, Error>((resume) => {
      const server = createServer((_request, response) => {
        response.writeHead(200, { "content-type": "application/json", "content-length": body.length })
        response.end(body)
      })
      server.once("error", (error) => resume(Effect.fail(error)))
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({
          url: `http://127.0.0.1:${port}`,
          close: () => {
            server.closeAllConnections()
            server.close()
          }
        }))
      })
    }),
    (bare) => Effect.sync(bare.close)
  )

/** autocannon in a child process; the child is killed if this fiber is interrupted. */
const drive = (spec: LoadSpec): Effect.Effect<LoadResult, Error> =>
  Effect.async<LoadResult, Error>((resume) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", Path.join(here, "dashboard-bench-load.ts"), JSON.stringify(spec)],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
    child.once("error", (error) => resume(Effect.fail(error)))
    child.once("close", (code, signal) => {
      if (code === 0) {
        try {
          resume(Effect.succeed(JSON.parse(out.trim().split("\n").at(-1)!) as LoadResult))
        } catch (error) {
          resume(Effect.fail(new Error(`autocannon child printed no result: ${String(error)}: ${out}`)))
        }
      } else {
        resume(Effect.fail(new Error(`autocannon child exited with ${code ?? signal}`)))
      }
    })
    return Effect.sync(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  })

/** One autocannon run, with the CPU time the server and Postgres spent per request meanwhile. */
const load = (
  url: string,
  paths: ReadonlyArray<string>,
  seconds: number,
  options: { readonly postmaster: number | undefined; readonly token?: string }
) =>
  Effect.gen(function*() {
    const before = Cpu.sample(options.postmaster)
    const result = yield* drive({
      url,
      paths,
      headers: { authorization: `Bearer ${options.token ?? TOKEN}` },
      connections: CONNECTIONS,
      seconds
    })
    const cpu = Cpu.perRequest(before, Cpu.sample(options.postmaster), result.requests)
    if (result.errors > 0 || result.timeouts > 0 || result.requests === 0) {
      progress(`${url}${paths[0]}: ${result.requests} responses, ${result.errors} errors, ${result.timeouts} timeouts`)
    }
    return { ...result, ...cpu }
  })

const millis = (start: number) => performance.now() - start
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits
const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)

/**
 * The handler's own work without HTTP: one call at a time (the SQL round trips), then 50 fibers at
 * once for a few seconds (what the pool and Postgres sustain).
 */
const direct = <A, E, R>(call: (n: number) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    for (let n = 0; n < 300; n++) {
      const start = performance.now()
      yield* call(n)
      times.push(millis(start))
    }
    times.sort((a, b) => a - b)
    let done = 0
    const until = performance.now() + 3_000
    const worker = (w: number) =>
      Effect.whileLoop({
        while: () => performance.now() < until,
        body: () => call(w * 7_919 + done),
        step: () => void done++
      })
    const start = performance.now()
    yield* Effect.forEach(Array.from({ length: CONNECTIONS }, (_, w) => w), worker, {
      concurrency: "unbounded",
      discard: true
    })
    return { p50_ms: quantile(times, 0.5), p99_ms: quantile(times, 0.99), concurrent50_rps: Math.round(done / (millis(start) / 1000)) }
  })

/**
 * `--profile`: every risk id timed alone; the slowest five with their evidence counts (other open
 * incidents on the item, nearby changes, critical events).
 */
const slowestRisks = (ids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const asOf = new Date()
    const timed: Array<{ id: string; ms: number; counts: Array<number> }> = []
    for (const id of ids) {
      const start = performance.now()
      const risk = yield* riskOf(ORG, id, asOf)
      const ms = millis(start)
      const counts = risk._tag === "Some"
        ? risk.value.factors.flatMap((f) => ("count" in f.evidence ? [f.evidence.count] : []))
        : []
      timed.push({ id, ms: round(ms), counts })
    }
    timed.sort((a, b) => b.ms - a.ms)
    emit({
      bench: "dashboard.risk.slowest",
      ids: timed.length,
      p50_ms: timed[Math.floor(timed.length / 2)]!.ms,
      p99_ms: timed[Math.floor(timed.length / 100)]!.ms,
      slowest: timed.slice(0, 5)
    })
  })

const bench = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const migrateStart = performance.now()
  yield* DashboardMigrations.run
  progress(`migrations (${round(millis(migrateStart) / 1000, 1)} s); loading ${INCIDENTS} incidents`)
  const loaded = yield* Data.load({ orgId: ORG, sizes: Data.sizesFor(INCIDENTS), at: new Date(), onProgress: progress })
  emit({ bench: "dashboard.load", incidents: INCIDENTS, rows: loaded.rows, seconds: loaded.seconds, counters_exact: loaded.countersExact })
  if (!loaded.countersExact) return yield* Effect.dieMessage("the trigger's counters differ from a rebuild")

  // Incidents for the risk endpoint: spread over the whole table (and so over hot and cold items).
  const riskIds = Array.from({ length: RISK_IDS }, (_, k) => Data.incidentSysId(1 + ((k * 104_729 + 17) % INCIDENTS)))
  const [present] = yield* sql<{ n: number }>`
    SELECT count(*)::int AS n FROM cache_itsm_incident WHERE org_id = ${ORG} AND key IN ${sql.in(riskIds)}`
  if (present!.n !== RISK_IDS) return yield* Effect.dieMessage(`only ${present!.n} of the risk ids are in the cache`)
  const riskPaths = riskIds.map((id) => `/api/v1/incidents/${id}/risk`)

  const directOverview = yield* direct(() => overview(ORG, new Date()))
  const directRisk = yield* direct((n) => riskOf(ORG, riskIds[n % RISK_IDS]!, new Date()))
  emit({ bench: "dashboard.direct", overview: directOverview, risk: directRisk, pool: POOL })
  if (PROFILE) yield* slowestRisks(riskIds)
  if (flag("direct-only")) return

  const [{ pid }] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
  const postmaster = Cpu.postmasterOf(pid!)
  const computed = yield* overview(ORG, new Date())
  const api = yield* serveApi(
    PROFILE ? Layers.routes(Buffer.from(JSON.stringify(Schema.encodeSync(Overview)(computed))), computed) : undefined
  )
  const first = yield* Effect.promise(() =>
    fetch(`${api}${OVERVIEW_PATH}`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(async (response) => ({
      status: response.status,
      body: Buffer.from(await response.arrayBuffer())
    }))
  )
  if (first.status !== 200) return yield* Effect.dieMessage(`overview answered ${first.status}: ${first.body}`)
  const summary = JSON.parse(first.body.toString("utf8"))
  progress(`overview: ${first.body.length} bytes, ${summary.incidents.open} open incidents, ` +
    `${summary.changes.highRiskChanges.length} high-risk changes listed, ${summary.events.total} events in 24 h`)
  const bare = yield* serveBare(first.body)
  const run = (url: string, paths: ReadonlyArray<string>, seconds: number, token?: string) =>
    load(url, paths, seconds, token === undefined ? { postmaster } : { postmaster, token })

  progress(`warm-up, then ${SECONDS} s each with ${CONNECTIONS} connections (autocannon in a child process)`)
  yield* run(api, [OVERVIEW_PATH], WARMUP_SECONDS)
  yield* run(bare.url, ["/"], WARMUP_SECONDS)
  const bareResult = yield* run(bare.url, ["/"], SECONDS)
  const overviewResult = yield* run(api, [OVERVIEW_PATH], SECONDS)
  const ratio = round(overviewResult.rps / Math.max(1, bareResult.rps), 3)
  emit({
    bench: "dashboard.overview",
    incidents: INCIDENTS,
    rps: overviewResult.rps,
    bare_rps: bareResult.rps,
    ratio,
    p50_ms: overviewResult.p50_ms,
    p99_ms: overviewResult.p99_ms,
    p90_ms: overviewResult.p90_ms,
    mean_ms: overviewResult.mean_ms,
    bare_p99_ms: bareResult.p99_ms,
    body_bytes: first.body.length,
    non2xx: overviewResult.non2xx,
    server_cpu_ms_per_req: overviewResult.server_cpu_ms_per_req,
    pg_cpu_ms_per_req: overviewResult.pg_cpu_ms_per_req,
    bare_server_cpu_ms_per_req: bareResult.server_cpu_ms_per_req,
    load_avg_1m: overviewResult.load_avg_1m,
    connections: CONNECTIONS,
    seconds: SECONDS,
    targets_met: ratio >= 0.5 && overviewResult.p99_ms <= 10
  })

  yield* run(api, riskPaths, WARMUP_SECONDS)
  const riskResult = yield* run(api, riskPaths, SECONDS)
  emit({
    bench: "dashboard.risk",
    incidents: INCIDENTS,
    rps: riskResult.rps,
    p50_ms: riskResult.p50_ms,
    p99_ms: riskResult.p99_ms,
    p90_ms: riskResult.p90_ms,
    mean_ms: riskResult.mean_ms,
    ids: RISK_IDS,
    non2xx: riskResult.non2xx,
    server_cpu_ms_per_req: riskResult.server_cpu_ms_per_req,
    pg_cpu_ms_per_req: riskResult.pg_cpu_ms_per_req,
    load_avg_1m: riskResult.load_avg_1m,
    connections: CONNECTIONS,
    seconds: SECONDS,
    targets_met: riskResult.p99_ms <= 20
  })

  if (PROFILE) {
    // The same answer through more and more of the stack; then the real overview under the profiler.
    const ladder: Array<readonly [string, string, ReadonlyArray<string>, string | undefined]> = [
      ["bare node:http", bare.url, ["/"], undefined],
      ["HttpLayerRouter route, precomputed bytes", api, [Layers.paths.bytes], undefined],
      ["  + bearer token check (DashboardAccess)", api, [Layers.paths.bytesAuth], undefined],
      ["HttpApi endpoint + Authentication, cached Overview value", api, [Layers.paths.api], undefined],
      ["  + 1 x SELECT 1", api, [Layers.paths.apiSql1], undefined],
      ["  + 6 x SELECT 1 at once (as the overview)", api, [Layers.paths.apiSql6], undefined],
      ["HttpApi, unknown token (401 from the middleware)", api, [OVERVIEW_PATH], "not-a-token"],
      ["HttpApi, malformed incident id (404, no SQL)", api, ["/api/v1/incidents/not-an-id/risk"], undefined],
      ["real overview", api, [OVERVIEW_PATH], undefined]
    ]
    for (const [name, url, paths, token] of PROFILE_ONLY ? [] : ladder) {
      const result = yield* run(url, paths, SECONDS, token)
      emit({
        bench: "dashboard.layers",
        layer: name,
        rps: result.rps,
        p50_ms: result.p50_ms,
        p99_ms: result.p99_ms,
        server_cpu_ms_per_req: result.server_cpu_ms_per_req,
        pg_cpu_ms_per_req: result.pg_cpu_ms_per_req,
        load_avg_1m: result.load_avg_1m
      })
    }
    const file = Path.join(Os.tmpdir(), `dashboard-bench-overview-${Date.now()}.cpuprofile`)
    const [profiledRun, profile] = yield* profiled(run(api, [OVERVIEW_PATH], SECONDS), file)
    emit({ bench: "dashboard.overview.profile", rps_while_profiling: profiledRun.rps, ...profile })
    const riskFile = Path.join(Os.tmpdir(), `dashboard-bench-risk-${Date.now()}.cpuprofile`)
    const [profiledRisk, riskProfile] = yield* profiled(run(api, riskPaths, SECONDS), riskFile)
    emit({ bench: "dashboard.risk.profile", rps_while_profiling: profiledRisk.rps, ...riskProfile })
  }
})

const program = Effect.gen(function*() {
  const configured = process.env.DATABASE_URL
  const adminUrl = configured
    ? Redacted.make(configured)
    : Redacted.make((yield* EmbeddedPostgres.start({
      dataDir: yield* EmbeddedPostgres.temporaryDataDir("tidemark-dashboard-bench-pg-"),
      persistent: false,
      // A throwaway cluster: loading a million rows should not wait on fsync.
      unsafeFast: true
    })).url)
  progress(configured ? "Postgres from DATABASE_URL" : "embedded Postgres started")
  const db = yield* Database.freshDatabase(adminUrl, "bench_dashboard")
  return yield* Effect.provide(bench, Database.layerFromUrl(db.url, POOL))
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

// runMain: SIGINT/SIGTERM interrupt the program, so every scope closes (servers, child, Postgres).
const started = performance.now()
NodeRuntime.runMain(program.pipe(
  Effect.ensuring(Effect.sync(() => progress(`finished in ${Duration.format(Duration.millis(Math.round(millis(started))))}`)))
))
