/**
 * Two nodes as two processes on one Postgres: a run's entity workflows execute on both, and after one
 * is killed with SIGKILL mid-run the other finishes the run; the cache equals the source.
 */
import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { SimulatorProcess } from "@tidemark/itsm-adapter/simulator"
import { Duration, Effect, Redacted } from "effect"
import { inject } from "vitest"
import * as Database from "../src/Database.js"
import { freePort } from "../src/EmbeddedPostgres.js"
import { pollUntil, startNode } from "./fixtures/SyncNodeProcess.js"

/** A run's status, pages per node, and the entities node-b is syncing (comma-separated, or null). */
interface RunProgress {
  readonly status: string | null
  readonly a_pages: number
  readonly b_pages: number
  readonly b_running: string | null
}

const ENTITIES = ["sys_user", "sys_user_group", "cmdb_ci", "change_request", "problem", "em_event", "incident"]

describe("two nodes", () => {
  it.live("share a run's entities, and the survivor finishes the run after the other is killed", () =>
    Effect.gen(function*() {
      const db = yield* Database.freshDatabase(Redacted.make(inject("adminDatabaseUrl")), "cluster")
      const sim = yield* SimulatorProcess.start([
        "--seed", "9", "--scale", "demo", "--incidents", "4000", "--latency-ms", "40", "--base-time", "2026-06-01 12:00:00"
      ])
      const sql = yield* PgClient.make({ url: db.url, maxConnections: 2 })
      const env = { DATABASE_URL: Redacted.value(db.url), ITSM_BASE_URL: sim.url, PAGE_SIZE: "50" }
      const portA = yield* Effect.orDie(freePort)
      const portB = yield* Effect.orDie(freePort)
      // B first, so that both runners are registered before the run starts on A.
      const nodeB = yield* startNode({ ...env, RUNNER_PORT: String(portB), NODE_NAME: "node-b" })
      const nodeA = yield* startNode({ ...env, RUNNER_PORT: String(portA), NODE_NAME: "node-a", START_RUN_ID: "cluster-1" })

      // Kill B once both nodes have committed pages and B is in the middle of an entity. Which
      // entities land on which node follows the runners' random ports and the run id (the entity
      // workflows' ids), so B may host only entities too small to be caught half way: then the run
      // finishes first, and a new run (new ids, a new placement) tries again.
      // (A page re-run after the kill is recorded under the node that committed it last.)
      const progress = (runId: string) =>
        sql<RunProgress>`
          SELECT (SELECT status FROM sync_runs WHERE run_id = ${runId}) AS status,
            (SELECT count(*)::int FROM sync_pages WHERE run_id = ${runId} AND node = 'node-a') AS a_pages,
            (SELECT count(*)::int FROM sync_pages WHERE run_id = ${runId} AND node = 'node-b') AS b_pages,
            (SELECT string_agg(entity, ',') FROM sync_entity_runs
              WHERE run_id = ${runId} AND node = 'node-b' AND status = 'running') AS b_running`.pipe(
          Effect.map((rows) => rows[0]!)
        )
      const midEntityOnB = (p: RunProgress) =>
        p.a_pages >= 1 && p.b_pages >= 1 && p.b_running !== null
      let interrupted: string | undefined
      for (let attempt = 1; attempt <= 4 && interrupted === undefined; attempt++) {
        const runId = `cluster-${attempt}`
        if (attempt > 1) nodeA.startFullRun(runId)
        const seen = yield* pollUntil(
          progress(runId),
          (p) => midEntityOnB(p) || (p.status !== null && p.status !== "pending" && p.status !== "running"),
          Duration.seconds(60)
        )
        if (midEntityOnB(seen)) {
          interrupted = runId
        } else {
          expect(seen.status, `${runId} ended before node-b could be caught mid-entity`).toBe("succeeded")
          process.stderr.write(`${runId}: node-b not caught mid-entity (${JSON.stringify(seen)}); a new run\n`)
        }
      }
      if (interrupted === undefined) return yield* Effect.dieMessage("four runs left node-b nothing to be killed in")
      const runId = interrupted
      const killedAt = Date.now()
      nodeB.kill()

      const status = yield* pollUntil(
        sql<{ status: string }>`SELECT status FROM sync_runs WHERE run_id = ${runId}`.pipe(
          Effect.map((rows) => rows[0]?.status ?? "missing")
        ),
        (s) => s !== "running" && s !== "pending",
        Duration.seconds(120)
      )
      expect(status).toBe("succeeded")
      process.stderr.write(`run finished ${((Date.now() - killedAt) / 1000).toFixed(1)} s after node-b was killed\n`)
      const nodes = yield* sql<{ node: string }>`SELECT DISTINCT node FROM sync_pages WHERE run_id = ${runId} ORDER BY node`
      expect(nodes.map((r) => r.node)).toEqual(["node-a", "node-b"])

      for (const entity of ENTITIES) {
        const truth = yield* Effect.promise(() =>
          fetch(`${sim.url}/__sim/truth/${entity}`).then((r) => r.json() as Promise<{ result: Array<{ sys_id: string }> }>)
        )
        const cache = yield* sql<{ raw: { sys_id: string } }>`
          SELECT raw FROM ${sql(`cache_itsm_${entity}`)} WHERE org_id = 'acme' AND deleted_at IS NULL ORDER BY key`
        expect(cache.map((r) => r.raw), entity).toEqual([...truth.result].sort((a, b) => (a.sys_id < b.sys_id ? -1 : 1)))
      }
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)), 240_000)

  it.live("a cluster-wide schedule fires once per tick, not once per node", () =>
    Effect.gen(function*() {
      const db = yield* Database.freshDatabase(Redacted.make(inject("adminDatabaseUrl")), "cron")
      const sim = yield* SimulatorProcess.start(["--seed", "3", "--scale", "demo", "--incidents", "300"])
      const sql = yield* PgClient.make({ url: db.url, maxConnections: 2 })
      const env = {
        DATABASE_URL: Redacted.value(db.url),
        ITSM_BASE_URL: sim.url,
        SCHEDULE_DELTA: "*/2 * * * * *"
      }
      const portA = yield* Effect.orDie(freePort)
      const portB = yield* Effect.orDie(freePort)
      yield* startNode({ ...env, RUNNER_PORT: String(portA), NODE_NAME: "node-a" })
      yield* startNode({ ...env, RUNNER_PORT: String(portB), NODE_NAME: "node-b" })
      const ticks = yield* pollUntil(
        sql<{ second: string; fired: number }>`
          SELECT to_char(date_trunc('second', fired_at), 'HH24:MI:SS') AS second, count(*)::int AS fired
          FROM sync_schedule_ticks GROUP BY 1 ORDER BY 1`.pipe(Effect.catchAll(() => Effect.succeed([]))),
        (rows) => rows.length >= 4,
        Duration.seconds(60)
      )
      expect(ticks.every((t) => t.fired === 1), JSON.stringify(ticks)).toBe(true)
      const runs = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sync_runs`
      expect(runs[0]!.n).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)), 120_000)
})
