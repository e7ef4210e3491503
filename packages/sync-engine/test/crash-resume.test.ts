/**
 * Crash: a child process runs a full sync against a slow simulator; the test kills it with SIGKILL
 * after some pages have committed, starts a new process, and the run completes. The cache then equals
 * the source, and the simulator's request log shows no committed page fetched again.
 */
import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { SimulatorProcess } from "@tidemark/itsm-adapter/simulator"
import { Duration, Effect, Redacted } from "effect"
import { inject } from "vitest"
import * as Database from "../src/Database.js"
import { pollUntil, startNode } from "./fixtures/SyncNodeProcess.js"

interface Truth {
  readonly result: ReadonlyArray<Record<string, string>>
}

const fetchJson = <A>(url: string) => Effect.promise(() => fetch(url).then((r) => r.json() as Promise<A>))

/** The keyset position a logged page query starts after: "start", "time|" (at or after) or "time|key". */
const positionOf = (query: string) => {
  if (!query.endsWith("ORDERBYsys_updated_on^ORDERBYsys_id")) return null
  const tie = query.includes("^NQ")
    ? [/sys_updated_on>(?!=)([^^]+)/.exec(query), /\^sys_id>([0-9a-f]+)/.exec(query)] as const
    : null
  if (tie && tie[0] && tie[1]) return `${tie[0][1]}|${tie[1][1]}`
  const from = /(?:^|\^)sys_updated_on>=([^^]+)/.exec(query)
  if (from) return `${from[1]}|`
  return /(?:^|\^)sys_updated_on>/.test(query) ? null : "start"
}

describe("crash and resume", () => {
  it.live("a run killed with SIGKILL mid-sync completes on a new process without refetching committed pages", () =>
    Effect.gen(function*() {
      const db = yield* Database.freshDatabase(Redacted.make(inject("adminDatabaseUrl")), "crash")
      const sim = yield* SimulatorProcess.start([
        "--seed", "5", "--scale", "demo", "--incidents", "3000", "--latency-ms", "60", "--base-time", "2026-06-01 12:00:00"
      ])
      // One keyset stream per entity, so "the page in flight" is one page per entity.
      const env = {
        DATABASE_URL: Redacted.value(db.url),
        ITSM_BASE_URL: sim.url,
        PAGE_SIZE: "100",
        FULL_SYNC_PARTITIONS: "1"
      }
      const sql = yield* PgClient.make({ url: db.url, maxConnections: 2 })

      const pagesCommitted = sql<{ n: number }>`SELECT count(*)::int AS n FROM sync_pages WHERE run_id = 'crash-1'`.pipe(
        Effect.map((rows) => rows[0]!.n),
        Effect.catchAll(() => Effect.succeed(0))
      )
      const first = yield* startNode({ ...env, START_RUN_ID: "crash-1" })
      yield* pollUntil(pagesCommitted, (n) => n >= 20, Duration.seconds(60))
      first.kill()
      yield* Effect.sleep("300 millis")
      const committed = yield* sql<{ entity: string; page_no: number; key_from: string | null; cursor_from: Date | null }>`
        SELECT entity, page_no, key_from, cursor_from FROM sync_pages WHERE run_id = 'crash-1'`
      expect(committed.length).toBeGreaterThanOrEqual(20)

      yield* startNode(env)
      const status = yield* pollUntil(
        sql<{ status: string }>`SELECT status FROM sync_runs WHERE run_id = 'crash-1'`.pipe(
          Effect.map((rows) => rows[0]?.status ?? "missing")
        ),
        (s) => s !== "running" && s !== "pending",
        Duration.seconds(120)
      )
      expect(status).toBe("succeeded")

      for (const entity of ["sys_user", "sys_user_group", "cmdb_ci", "change_request", "problem", "em_event", "incident"]) {
        const truth = yield* fetchJson<Truth>(`${sim.url}/__sim/truth/${entity}`)
        const cache = yield* sql<{ key: string; raw: Record<string, string> }>`
          SELECT key, raw FROM ${sql(`cache_itsm_${entity}`)} WHERE org_id = 'acme' AND deleted_at IS NULL ORDER BY key`
        expect(cache.map((r) => r.raw), entity).toEqual([...truth.result].sort((a, b) => (a.sys_id! < b.sys_id! ? -1 : 1)))
      }

      // Every page committed before the kill was requested exactly once over the whole run, except
      // each entity's last one: its transaction may have committed before its activity was recorded
      // (the page in flight), and then it runs again.
      const log = yield* fetchJson<
        ReadonlyArray<{ table: string | null; query: string | null; status: number; limit: number | null }>
      >(
        `${sim.url}/__sim/requests`
      )
      const requested = new Map<string, number>()
      for (const entry of log) {
        // Limit 1: the low- and high-water probes, not pages.
        if (entry.table === null || entry.query === null || entry.status !== 200 || entry.limit === 1) continue
        const position = positionOf(entry.query)
        if (position === null) continue
        const id = `${entry.table}@${position}`
        requested.set(id, (requested.get(id) ?? 0) + 1)
      }
      const format = (d: Date) => d.toISOString().slice(0, 19).replace("T", " ")
      const lastPage = new Map<string, number>()
      for (const page of committed) lastPage.set(page.entity, Math.max(lastPage.get(page.entity) ?? 0, page.page_no))
      let checked = 0
      for (const page of committed) {
        const position = page.cursor_from === null ? "start" : `${format(page.cursor_from)}|${page.key_from}`
        const times = requested.get(`${page.entity}@${position}`)
        if (page.page_no === lastPage.get(page.entity)) {
          expect(times, `${page.entity} page ${page.page_no} (in flight)`).toBeLessThanOrEqual(2)
        } else {
          expect(times, `${page.entity} page ${page.page_no}`).toBe(1)
          checked++
        }
      }
      expect(checked).toBeGreaterThanOrEqual(8)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)), 240_000)
})
