/**
 * bench:cluster — cluster.takeover: seconds from a node's SIGKILL until its orphaned entity workflows
 * commit again on the survivor, against the configured shard-lock expiry (target ratio <= 1.5);
 * cluster.run_overhead: a delta run with nothing to sync, start to finished, p50 (and per entity).
 * Everything runs on loopback: one embedded Postgres (or DATABASE_URL), the simulator, server nodes.
 */
import { PgClient } from "@effect/sql-pg"
import { Reactivity } from "@effect/experimental"
import { SimulatorProcess } from "@tidemark/itsm-adapter/simulator"
import { Database, EmbeddedPostgres } from "@tidemark/sync-engine"
import { Effect, Option, Redacted } from "effect"
import { spawn } from "node:child_process"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..", "..", "..")
const quick = process.argv.includes("--quick")
const EXPIRY_SECONDS = 5

const startNode = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly kill: () => void; readonly output: () => string }, Error>((resume) => {
      const child = spawn(process.execPath, ["--import", "tsx", Path.join(root, "apps", "server", "src", "main.ts")], {
        cwd: root,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let ready = false
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (!ready && output.includes("Tidemark listening on")) {
          ready = true
          resume(Effect.succeed({ kill: () => child.kill("SIGKILL"), output: () => output }))
        }
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      child.once("exit", (code) => {
        if (!ready) resume(Effect.fail(new Error(`node exited (${code}): ${output}`)))
      })
      return Effect.sync(() => child.kill("SIGKILL"))
    }),
    (node) => Effect.sync(() => node.kill())
  )

const log = (line: string) => Effect.sync(() => process.stderr.write(`${line}\n`))

const takeover = (adminUrl: Redacted.Redacted) =>
  Effect.gen(function*() {
    const db = yield* Database.freshDatabase(adminUrl, "bench_takeover")
    const sim = yield* SimulatorProcess.start([
      "--scale", "demo", "--incidents", quick ? "20000" : "60000", "--latency-ms", "50", "--seed", "4"
    ])
    const sql = yield* PgClient.make({ url: db.url, maxConnections: 2 })
    const ports = [yield* Effect.orDie(EmbeddedPostgres.freePort), yield* Effect.orDie(EmbeddedPostgres.freePort)]
    const common = {
      DATABASE_URL: Redacted.value(db.url),
      ITSM_BASE_URL: sim.url,
      PORT: "0",
      PAGE_SIZE: "100",
      SCHEDULE_DELTA: "off",
      SCHEDULE_RECONCILIATION: "off",
      SHARD_LOCK_EXPIRATION_SECONDS: String(EXPIRY_SECONDS)
    }
    // B first so that both runners are registered before A starts the first full sync.
    const nodeB = yield* startNode({ ...common, RUNNER_PORT: String(ports[1]), NODE_NAME: "node-b", ORG_ID: "bench" })
    yield* Effect.sleep("2 seconds")
    yield* startNode({ ...common, RUNNER_PORT: String(ports[0]), NODE_NAME: "node-a", ORG_ID: "bench" })
    const pagesOf = (node: string) =>
      sql<{ n: number }>`SELECT count(*)::int AS n FROM sync_pages WHERE node = ${node}`.pipe(
        Effect.map((r) => r[0]!.n),
        Effect.catchAll(() => Effect.succeed(0))
      )
    // Kill B while it is running at least one entity workflow (its last committed page is B's).
    const inFlightOnB = sql<{ entity: string }>`
      SELECT p.entity FROM sync_pages p
      JOIN sync_entity_runs e ON e.run_id = p.run_id AND e.entity = p.entity AND e.status = 'running'
      GROUP BY p.entity
      HAVING (array_agg(p.node ORDER BY p.committed_at DESC))[1] = 'node-b'`.pipe(
      Effect.catchAll(() => Effect.succeed([] as ReadonlyArray<{ entity: string }>))
    )
    let orphans: ReadonlyArray<{ entity: string }> = []
    for (let i = 0; i < 1200 && orphans.length === 0; i++) {
      if ((yield* pagesOf("node-b")) >= 3) orphans = yield* inFlightOnB
      if (orphans.length === 0) yield* Effect.sleep("50 millis")
    }
    nodeB.kill()
    const killedAt = Date.now()
    yield* log(`takeover: killed node-b; its entities in flight: ${orphans.map((o) => o.entity).join(", ")}`)
    let resumedAt = Option.none<number>()
    for (let i = 0; i < 1200 && Option.isNone(resumedAt); i++) {
      const resumed = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM sync_pages
        WHERE node = 'node-a' AND committed_at > to_timestamp(${killedAt / 1000})
          AND entity IN ${sql.in(orphans.length > 0 ? orphans.map((o) => o.entity) : [""])}`
      if (resumed[0]!.n > 0) resumedAt = Option.some(Date.now())
      else yield* Effect.sleep("50 millis")
    }
    const seconds = Option.match(resumedAt, { onNone: () => Infinity, onSome: (t) => (t - killedAt) / 1000 })
    return {
      bench: "cluster.takeover",
      seconds: Number(seconds.toFixed(2)),
      lock_expiration_seconds: EXPIRY_SECONDS,
      ratio: Number((seconds / EXPIRY_SECONDS).toFixed(3))
    }
  }).pipe(Effect.scoped)

const runOverhead = (adminUrl: Redacted.Redacted) =>
  Effect.gen(function*() {
    const db = yield* Database.freshDatabase(adminUrl, "bench_overhead")
    const sim = yield* SimulatorProcess.start(["--scale", "demo", "--seed", "2"])
    const sql = yield* PgClient.make({ url: db.url, maxConnections: 2 })
    const node = yield* startNode({
      DATABASE_URL: Redacted.value(db.url),
      ITSM_BASE_URL: sim.url,
      PORT: "0",
      ORG_ID: "bench",
      API_TOKENS: "bench-token=bench:admin",
      SCHEDULE_DELTA: "off",
      SCHEDULE_RECONCILIATION: "off"
    })
    for (let i = 0; i < 1200 && !/first sync (succeeded|partial|failed)/.test(node.output()); i++) {
      yield* Effect.sleep("100 millis")
    }
    const url = /Tidemark listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(node.output())![1]!
    const samples: Array<number> = []
    const rounds = quick ? 5 : 15
    for (let i = 0; i < rounds; i++) {
      const runId = `overhead-${i}`
      const started = performance.now()
      // Started through the admin HTTP API; finished when the run history says so.
      const response = yield* Effect.promise(() =>
        fetch(`${url}/api/v1/admin/sync`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer bench-token" },
          body: JSON.stringify({ syncType: "delta", runId })
        }).then(async (r) => ({ status: r.status, text: await r.text() }))
      )
      if (response.status >= 300) {
        return { bench: "cluster.run_overhead", error: `admin sync answered ${response.status}: ${response.text}` }
      }
      for (;;) {
        const [row] = yield* sql<{ status: string }>`SELECT status FROM sync_runs WHERE run_id = ${runId}`
        if (row && row.status !== "running" && row.status !== "pending") break
        yield* Effect.sleep("10 millis")
      }
      samples.push(performance.now() - started)
    }
    samples.sort((a, b) => a - b)
    const p50 = samples[Math.floor(samples.length / 2)]!
    return {
      bench: "cluster.run_overhead",
      runs: samples.length,
      p50_ms: Math.round(p50),
      per_entity_ms: Math.round(p50 / 7),
      max_ms: Math.round(samples.at(-1)!)
    }
  }).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  const configured = process.env.DATABASE_URL
  const adminUrl = configured
    ? Redacted.make(configured)
    : Redacted.make((yield* EmbeddedPostgres.start({
      dataDir: yield* EmbeddedPostgres.temporaryDataDir("tidemark-bench-cluster-"),
      persistent: false
    })).url)
  const only = process.argv.find((a) => a.startsWith("--case="))?.slice(7)
  if (!only || only === "takeover") {
    const result = yield* takeover(adminUrl)
    yield* Effect.sync(() => process.stdout.write(`${JSON.stringify(result)}\n`))
  }
  if (!only || only === "run_overhead") {
    const result = yield* runOverhead(adminUrl)
    yield* Effect.sync(() => process.stdout.write(`${JSON.stringify(result)}\n`))
  }
}).pipe(Effect.scoped, Effect.provide(Reactivity.layer))

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`bench:cluster failed: ${error}\n`)
    process.exit(1)
  }
)
