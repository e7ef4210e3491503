/**
 * The admin endpoints: starting syncs through the engine, run history and the plan, behind a token
 * with the `admin` scope, scoped to the token's org.
 */
import { expect, layer } from "@effect/vitest"
import { SyncEngine, SyncRun } from "@tidemark/sync-engine"
import { Effect } from "effect"
import { awaitRun, call, layer as stack, ORG, OTHER_ORG } from "./DashboardFixture.js"

const ADMIN = "acme-admin"

layer(stack({ prefix: "api_admin" }), { excludeTestServices: true, timeout: "300 seconds" })("admin endpoints", (it) => {
  it.effect("starting a sync needs a token (401) with the admin scope (403); with it the run starts (200)", () =>
    Effect.gen(function*() {
      const none = yield* call("/api/v1/admin/sync/incident", { method: "POST" })
      expect(none.status).toBe(401)
      const reader = yield* call("/api/v1/admin/sync/incident", { method: "POST", token: "acme-reader" })
      expect(reader.status).toBe(403)
      expect(reader.body).toMatchObject({ _tag: "Forbidden", required: "admin" })
      for (const path of ["/api/v1/admin/runs", "/api/v1/admin/graph"]) {
        expect((yield* call(path, { token: "acme-reader" })).status, path).toBe(403)
      }
      const started = yield* call("/api/v1/admin/sync/incident?syncType=full", { method: "POST", token: ADMIN })
      expect(started.status, JSON.stringify(started.body)).toBe(200)
      expect(started.body).toMatchObject({ orgId: ORG, adapter: "itsm", syncType: "full", entities: ["incident"] })
      // The incident's hard parents are pulled into the plan.
      expect(started.body.levels.flat().sort()).toEqual(["cmdb_ci", "incident", "sys_user"])
      const finished = yield* awaitRun(started.body.runId)
      expect(finished.status).toBe("succeeded")
      const run = yield* call(`/api/v1/admin/runs/${started.body.runId}`, { token: ADMIN })
      expect(run.status).toBe(200)
      expect(run.body.status).toBe("succeeded")
      expect(run.body.entityRuns.map((e: { entity: string }) => e.entity).sort()).toEqual(["cmdb_ci", "incident", "sys_user"])
    }))

  it.effect("a whole-org sync from a body, idempotent by run id; a second overlapping run is a 409", () =>
    Effect.gen(function*() {
      const request = { syncType: "full", runId: "admin-full-1" }
      const first = yield* call("/api/v1/admin/sync", { method: "POST", token: ADMIN, body: request })
      expect(first.status, JSON.stringify(first.body)).toBe(200)
      const again = yield* call("/api/v1/admin/sync", { method: "POST", token: ADMIN, body: request })
      expect(again.status).toBe(200)
      expect(again.body.runId).toBe("admin-full-1")
      const overlapping = yield* call("/api/v1/admin/sync", {
        method: "POST",
        token: ADMIN,
        body: { syncType: "delta", entities: ["em_event"] }
      })
      expect(overlapping.status, JSON.stringify(overlapping.body)).toBe(409)
      expect(overlapping.body).toMatchObject({ _tag: "Conflict", reason: "run_active", runId: "admin-full-1" })
      expect((yield* awaitRun("admin-full-1")).status).toBe("succeeded")
      const reused = yield* call("/api/v1/admin/sync", { method: "POST", token: ADMIN, body: { syncType: "delta", runId: "admin-full-1" } })
      expect(reused.status).toBe(409)
      expect(reused.body.reason).toBe("run_id_reused")
    }))

  it.effect("bad requests: an unknown entity is a 404, a bad body field a 400 naming it", () =>
    Effect.gen(function*() {
      const unknown = yield* call("/api/v1/admin/sync/no_such_table", { method: "POST", token: ADMIN })
      expect(unknown.status).toBe(404)
      expect(unknown.body).toMatchObject({ _tag: "NotFound", resource: "entity", id: "no_such_table" })
      const badType = yield* call("/api/v1/admin/sync", { method: "POST", token: ADMIN, body: { syncType: "sideways" } })
      expect(badType.status).toBe(400)
      expect(badType.body.issues[0].path).toEqual(["syncType"])
      expect(badType.body.message).toContain("syncType")
      const badEntities = yield* call("/api/v1/admin/sync", {
        method: "POST",
        token: ADMIN,
        body: { syncType: "delta", entities: ["incident", "nope"] }
      })
      expect(badEntities.status).toBe(400)
      expect(badEntities.body).toMatchObject({ _tag: "InvalidRequest", field: "entities" })
      const badRunId = yield* call("/api/v1/admin/sync", { method: "POST", token: ADMIN, body: { syncType: "delta", runId: "no spaces!" } })
      expect(badRunId.status).toBe(400)
      expect(badRunId.body).toMatchObject({ _tag: "InvalidRequest", field: "runId" })
      const badQuery = yield* call("/api/v1/admin/sync/incident?syncType=weekly", { method: "POST", token: ADMIN })
      expect(badQuery.status).toBe(400)
      expect(badQuery.body.issues[0].path).toEqual(["syncType"])
    }))

  it.effect("runs are listed for the token's org only; another org's run is a 404", () =>
    Effect.gen(function*() {
      const engine = yield* SyncEngine.SyncEngine
      const other = yield* engine.startRun(new SyncRun.StartRunRequest({ orgId: OTHER_ORG, adapter: "itsm", syncType: "full" }))
      yield* awaitRun(other.runId)
      const runs = yield* call("/api/v1/admin/runs", { token: ADMIN })
      expect(runs.status).toBe(200)
      expect(runs.body.length).toBeGreaterThanOrEqual(2)
      expect(runs.body.every((run: { orgId: string }) => run.orgId === ORG)).toBe(true)
      const succeeded = yield* call("/api/v1/admin/runs?status=succeeded&limit=1", { token: ADMIN })
      expect(succeeded.body).toHaveLength(1)
      expect((yield* call(`/api/v1/admin/runs/${other.runId}`, { token: ADMIN })).status).toBe(404)
      expect((yield* call("/api/v1/admin/runs/never-was", { token: ADMIN })).status).toBe(404)
    }))

  it.effect("the graph: levels, edges and Mermaid text", () =>
    Effect.gen(function*() {
      const graph = yield* call("/api/v1/admin/graph", { token: ADMIN })
      expect(graph.status).toBe(200)
      expect(graph.body.adapter).toBe("itsm")
      expect(graph.body.levels.flat().sort()).toEqual(
        ["change_request", "cmdb_ci", "em_event", "incident", "problem", "sys_user", "sys_user_group"]
      )
      expect(graph.body.levels.at(-1)).toEqual(["incident"])
      expect(graph.body.graph.edges.length).toBeGreaterThan(5)
      expect(graph.body.mermaid).toContain("graph TD")
      expect(graph.body.mermaid).toContain("cmdb_ci -->|cmdb_ci| incident")
    }))
})
