/**
 * A newcomer's path: `pnpm start` with nothing configured brings up embedded Postgres, the simulator
 * and the server; the first full sync completes; health, readiness and metrics answer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ServerProcess from "./ServerProcess.js"

const get = (url: string) =>
  Effect.promise(() => fetch(url).then(async (r) => ({ status: r.status, text: await r.text() })))

describe("pnpm start", () => {
  it.live("runs the first full sync against the embedded simulator and serves the operations endpoints", () =>
    Effect.gen(function*() {
      const server = yield* ServerProcess.start({ SCHEDULE_DELTA: "off", SCHEDULE_RECONCILIATION: "off" })
      for (let i = 0; i < 600 && !/first sync (succeeded|partial|failed)/.test(server.output()); i++) {
        yield* Effect.sleep("100 millis")
      }
      expect(server.output()).toContain("first sync succeeded")
      for (const entity of ["sys_user", "sys_user_group", "cmdb_ci", "change_request", "problem", "em_event", "incident"]) {
        expect(server.output()).toMatch(new RegExp(`${entity}: succeeded, \\d+ records`))
      }
      expect((yield* get(`${server.url}/healthz`)).status).toBe(200)
      expect((yield* get(`${server.url}/readyz`)).status).toBe(200)
      const metrics = yield* get(`${server.url}/metrics`)
      expect(metrics.text).toContain('tidemark_runs{status="succeeded"} 1')
      expect(metrics.text).toMatch(/tidemark_records_total\{org="demo",adapter="itsm",entity="incident"\} [1-9]\d*/)
      expect(metrics.text).toContain("tidemark_source_requests_total")
      // The dashboard overview answers from the cache, with the default demo token.
      const overview = yield* Effect.promise(() =>
        fetch(`${server.url}/api/v1/dashboard/overview`, { headers: { authorization: "Bearer demo-token" } })
          .then(async (r) => ({ status: r.status, body: await r.json() as Record<string, unknown> }))
      )
      expect(overview.status).toBe(200)
      expect(JSON.stringify(overview.body)).toContain("incident")
      expect((yield* get(`${server.url}/api/v1/dashboard/overview`)).status).toBe(401)
      expect((yield* get(`${server.url}/api/openapi.json`)).status).toBe(200)
    }).pipe(Effect.scoped), 180_000)
})
