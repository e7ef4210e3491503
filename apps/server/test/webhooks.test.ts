/**
 * Webhooks end to end: the simulator posts signed changes to the server's endpoint over real HTTP;
 * they are applied in order per record. A bad signature or a bad body is refused and applies nothing.
 */
import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { RateBudget } from "@tidemark/adapter-core"
import { TableApiAdapter } from "@tidemark/itsm-adapter"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { AdapterRegistry, Database, EngineConfig, SyncEngine, SyncRun, SyncRuntime } from "@tidemark/sync-engine"
import { Effect, Layer, Redacted } from "effect"
import { createHmac } from "node:crypto"
import { createServer } from "node:http"
import { inject } from "vitest"
import * as Webhooks from "../src/Webhooks.js"

const SECRET = "webhook-test-secret"
const ORG = "acme"

const Simulator = ItsmSimulator.layer({
  seed: 21,
  counts: { sys_user: 60, sys_user_group: 6, cmdb_ci: 60, change_request: 30, problem: 20, incident: 200, em_event: 40 },
  baseTime: "2026-06-01 12:00:00",
  clock: "manual"
})

const Registry = Layer.effect(
  AdapterRegistry.AdapterRegistry,
  Effect.gen(function*() {
    const sim = yield* ItsmSimulator.ItsmSimulator
    const adapter = yield* TableApiAdapter.make({
      baseUrl: sim.url,
      org: ORG,
      auth: { _tag: "Basic", username: "admin", password: Redacted.make("admin") }
    })
    return AdapterRegistry.fromAdapters([adapter])
  })
).pipe(Layer.provide(Layer.merge(NodeHttpClient.layerUndici, RateBudget.layer)))

const Http = HttpLayerRouter.serve(
  Webhooks.routes({ secret: Redacted.make(SECRET), adapter: "itsm", orgs: [ORG] }),
  { disableListenLog: true, disableLogger: true }
).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))

const Stack = Http.pipe(
  Layer.provideMerge(SyncRuntime.layerSingleNode({ adapters: ["itsm"] })),
  Layer.provideMerge(Registry),
  Layer.provideMerge(EngineConfig.layer({ pageSize: 100 })),
  Layer.provideMerge(Simulator),
  Layer.provideMerge(Database.layerFresh(Redacted.make(inject("adminDatabaseUrl")), "webhooks"))
)

const endpoint = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}/webhooks/itsm/${ORG}` : "")

const post = (url: string, body: string, signature?: string) =>
  Effect.promise(() =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(signature ? { "x-signature-sha256": signature } : {}) },
      body
    }).then(async (r) => ({ status: r.status, body: await r.json() as { error?: string } }))
  )

const sign = (body: string) => createHmac("sha256", SECRET).update(body).digest("hex")

const changeCount = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM sync_changes WHERE run_id IS NULL OR run_id = 'webhook'`, (r) => r[0]!.n))

layer(Stack, { excludeTestServices: true, timeout: "120 seconds" })("webhooks", (it) => {
  it.effect("signed changes from the source are applied in order; the cache then equals the source", () =>
    Effect.gen(function*() {
      const engine = yield* SyncEngine.SyncEngine
      const sim = yield* ItsmSimulator.ItsmSimulator
      const sql = yield* SqlClient.SqlClient
      const run = yield* engine.startRun(new SyncRun.StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full" }))
      for (let i = 0; i < 300; i++) {
        const current = yield* engine.getRun(run.runId)
        if (current.status !== "running" && current.status !== "pending") break
        yield* Effect.sleep("100 millis")
      }
      yield* sim.setWebhook({ url: yield* endpoint, secret: SECRET })
      yield* sim.advanceClock(5)
      const changes = yield* Effect.orDie(sim.mutate({ table: "incident", creates: 3, updates: 5, deletes: 2 }))
      // The same record changed again, twice: the last version must win.
      const key = changes.updated[0]!
      yield* sim.advanceClock(2)
      yield* Effect.orDie(sim.mutate({ table: "incident", updateKeys: [key] }))
      yield* sim.advanceClock(2)
      yield* Effect.orDie(sim.mutate({ table: "incident", updateKeys: [key] }))
      const expected = 3 + 5 + 2 + 2
      for (let i = 0; i < 100 && (yield* sim.stats()).webhooksDelivered < expected; i++) yield* Effect.sleep("50 millis")
      expect((yield* sim.stats()).webhooksDelivered).toBe(expected)

      const truth = (yield* Effect.orDie(sim.truth("incident"))).result
      const touched = [...changes.created, ...changes.updated]
      const rows = yield* sql<{ key: string; raw: Record<string, string> }>`
        SELECT key, raw FROM cache_itsm_incident WHERE org_id = ${ORG} AND deleted_at IS NULL AND key IN ${sql.in(touched)}`
      for (const k of touched) {
        expect(rows.find((r) => r.key === k)?.raw, k).toEqual(truth.find((r) => r.sys_id === k))
      }
      const deleted = yield* sql<{ key: string }>`
        SELECT key FROM cache_itsm_incident WHERE org_id = ${ORG} AND deleted_at IS NOT NULL`
      expect(deleted.map((r) => r.key).sort()).toEqual([...changes.deleted].sort())
      yield* sim.setWebhook(null)
    }))

  it.effect("a bad signature is 401, a bad body 400 naming what is wrong; nothing is applied", () =>
    Effect.gen(function*() {
      const url = yield* endpoint
      const before = yield* changeCount
      const event = JSON.stringify({
        table: "incident",
        operation: "update",
        sys_id: "0123456789abcdef0123456789abcdef",
        sys_updated_on: "2026-06-01 12:00:00",
        record: { sys_id: "0123456789abcdef0123456789abcdef" }
      })
      expect((yield* post(url, event)).status).toBe(401)
      expect((yield* post(url, event, sign(`${event} `))).status).toBe(401)
      const badDate = JSON.stringify({ ...JSON.parse(event), sys_updated_on: "yesterday" })
      const dateAnswer = yield* post(url, badDate, sign(badDate))
      expect(dateAnswer.status).toBe(400)
      expect(dateAnswer.body.error).toContain("sys_updated_on")
      const badRecord = yield* post(url, event, sign(event))
      expect(badRecord.status).toBe(400)
      expect(badRecord.body.error).toMatch(/number|short_description|is missing/)
      const notJson = "{not json"
      expect((yield* post(url, notJson, sign(notJson))).status).toBe(400)
      expect(yield* changeCount).toBe(before)
    }))
})
