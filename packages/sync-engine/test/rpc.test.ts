/**
 * The RPC group end to end over real HTTP: a server on port 0 over the full sync stack, and the HTTP
 * client the CLI uses. Errors must arrive typed, with messages that name what was wrong.
 */
import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { expect, layer } from "@effect/vitest"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { Chunk, Effect, Layer, Stream } from "effect"
import { createServer } from "node:http"
import * as SyncRpc from "../src/SyncRpc.js"
import { ENTITIES, ORG } from "./SyncFixture.js"
import * as SyncFixture from "./SyncFixture.js"

const ServerLive = HttpLayerRouter.serve(SyncRpc.layerHttpServer({ path: "/rpc" }), {
  disableLogger: true,
  disableListenLog: true
}).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))

const ClientLive = Layer.unwrapEffect(HttpServer.addressWith((address) =>
  address._tag === "TcpAddress"
    ? Effect.succeed(SyncRpc.layerHttpClient(`http://127.0.0.1:${address.port}/rpc`))
    : Effect.dieMessage("expected a TCP address")
))

const Stack = ClientLive.pipe(
  Layer.provideMerge(ServerLive),
  Layer.provideMerge(SyncFixture.layer({ prefix: "rpc" }))
)

layer(Stack, { excludeTestServices: true, timeout: "180 seconds" })("sync RPC over HTTP", (it) => {
  it.effect("starts a full run and watches it to the end through the stream; get and list see it", () =>
    Effect.gen(function*() {
      const client = yield* SyncRpc.SyncRpcClient
      const started = yield* client.StartRun({ orgId: ORG, adapter: "itsm", syncType: "full", runId: "rpc-full-1" })
      expect(started.runId).toBe("rpc-full-1")
      expect(started.syncType).toBe("full")

      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(client.WatchRun({ runId: started.runId })))
      const last = events.at(-1)
      expect(last?._tag).toBe("RunFinished")
      expect(last?._tag === "RunFinished" && last.status).toBe("succeeded")
      expect(events.some((e) => e._tag === "PageCommitted")).toBe(true)
      const finished = events.flatMap((e) => e._tag === "EntityFinished" ? [[e.entity, e.status]] : [])
      expect(finished.map(([entity]) => entity).sort()).toEqual([...ENTITIES].sort())
      expect(finished.every(([, status]) => status === "succeeded")).toBe(true)

      const run = yield* client.GetRun({ runId: started.runId })
      expect(run.status).toBe("succeeded")
      expect(run.requestedAt).toBeInstanceOf(Date)
      const incident = run.entityRuns.find((e) => e.entity === "incident")!
      const truth = yield* SyncFixture.truthOf("incident")
      expect(incident.records).toBe(truth.length)
      const pagesWatched = events.filter((e) => e._tag === "PageCommitted" && e.entity === "incident")
      expect(pagesWatched.length).toBe(incident.pages)

      const listed = yield* client.ListRuns({ orgId: ORG })
      expect(listed.map((r) => r.runId)).toContain(started.runId)
      const succeeded = yield* client.ListRuns({ orgId: ORG, status: "succeeded", limit: 1 })
      expect(succeeded.map((r) => r.runId)).toEqual([started.runId])
      expect(yield* client.ListRuns({ orgId: "nobody" })).toEqual([])
    }))

  it.effect("plans over RPC: levels, graph and Mermaid; an unknown entity names `entities`", () =>
    Effect.gen(function*() {
      const client = yield* SyncRpc.SyncRpcClient
      const plan = yield* client.Plan({ adapter: "itsm" })
      expect(plan.levels.flat().sort()).toEqual([...ENTITIES].sort())
      expect(plan.graph.entities.length).toBe(ENTITIES.length)
      expect(plan.mermaid).toContain("incident")
      const subset = yield* client.Plan({ adapter: "itsm", entities: ["em_event"] })
      expect(subset.levels.flat()).toContain("cmdb_ci")
      const unknown = yield* Effect.flip(client.Plan({ adapter: "itsm", entities: ["em_event", "nope"] }))
      expect(unknown._tag).toBe("InvalidRunRequestError")
      expect(unknown._tag === "InvalidRunRequestError" && unknown.field).toBe("entities")
      expect(unknown.message).toContain("nope")
    }))

  it.effect("bad requests come back as typed errors naming the bad field", () =>
    Effect.gen(function*() {
      const client = yield* SyncRpc.SyncRpcClient
      const sideways = yield* Effect.flip(client.StartRun({ orgId: ORG, adapter: "itsm", syncType: "sideways" }))
      expect(sideways._tag).toBe("InvalidRunRequestError")
      expect(sideways._tag === "InvalidRunRequestError" && sideways.field).toBe("syncType")
      expect(sideways.message).toContain("syncType")
      expect(sideways.message).toContain("sideways")
      expect(sideways.message).toContain("reconciliation")

      const spaced = yield* Effect.flip(client.StartRun({ orgId: "has spaces", adapter: "itsm", syncType: "full" }))
      expect(spaced._tag === "InvalidRunRequestError" && spaced.field).toBe("orgId")
      expect(spaced.message).toContain("orgId")

      const unknownEntity = yield* Effect.flip(
        client.StartRun({ orgId: ORG, adapter: "itsm", syncType: "delta", entities: ["incident", "nope"] })
      )
      expect(unknownEntity._tag === "InvalidRunRequestError" && unknownEntity.field).toBe("entities")
      expect(unknownEntity.message).toContain("nope")

      const unknownAdapter = yield* Effect.flip(client.StartRun({ orgId: ORG, adapter: "jira", syncType: "full" }))
      expect(unknownAdapter._tag === "InvalidRunRequestError" && unknownAdapter.field).toBe("adapter")

      const missing = yield* Effect.flip(client.GetRun({ runId: "no-such-run" }))
      expect(missing._tag).toBe("RunNotFoundError")
      expect(missing.message).toContain("no-such-run")
      const unwatchable = yield* Effect.flip(Stream.runDrain(client.WatchRun({ runId: "no-such-run" })))
      expect(unwatchable._tag).toBe("RunNotFoundError")
      const uncancellable = yield* Effect.flip(client.CancelRun({ runId: "no-such-run" }))
      expect(uncancellable._tag).toBe("RunNotFoundError")
    }))

  it.effect("a conflicting run is refused with a typed RunConflictError; a slow run is cancelled mid-run", () =>
    Effect.gen(function*() {
      const client = yield* SyncRpc.SyncRpcClient
      const sim = yield* ItsmSimulator.ItsmSimulator
      yield* sim.setLatency({ ms: 300 })
      const slow = yield* client.StartRun({ orgId: ORG, adapter: "itsm", syncType: "full", runId: "rpc-slow" })

      const conflict = yield* Effect.flip(
        client.StartRun({ orgId: ORG, adapter: "itsm", syncType: "delta", entities: ["em_event"] })
      )
      expect(conflict._tag).toBe("RunConflictError")
      if (conflict._tag === "RunConflictError") {
        expect(conflict.activeRunId).toBe("rpc-slow")
        expect(conflict.entities).toContain("em_event")
      }
      expect(conflict.message).toContain("rpc-slow")

      const reused = yield* Effect.flip(
        client.StartRun({ orgId: ORG, adapter: "itsm", syncType: "delta", runId: "rpc-slow" })
      )
      expect(reused._tag).toBe("RunIdReusedError")

      // Leaving the stream after the first page also checks that an abandoned watch ends cleanly.
      const firstPage = yield* client.WatchRun({ runId: slow.runId }).pipe(
        Stream.filter((e) => e._tag === "PageCommitted"),
        Stream.take(1),
        Stream.runCollect
      )
      expect(Chunk.size(firstPage)).toBe(1)

      const cancelled = yield* client.CancelRun({ runId: slow.runId })
      expect(cancelled.status).toBe("cancelled")
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(client.WatchRun({ runId: slow.runId })))
      const last = events.at(-1)
      expect(last?._tag === "RunFinished" && last.status).toBe("cancelled")
      expect((yield* client.GetRun({ runId: slow.runId })).status).toBe("cancelled")
      expect(yield* client.CancelRun({ runId: slow.runId })).toMatchObject({ status: "cancelled" })

      // The cancelled run no longer blocks the next one.
      yield* sim.setLatency({ ms: 0 })
      const next = yield* client.StartRun({ orgId: ORG, adapter: "itsm", syncType: "delta" })
      const nextEvents = yield* Stream.runCollect(client.WatchRun({ runId: next.runId }))
      const nextLast = Chunk.last(nextEvents)
      expect(nextLast._tag === "Some" && nextLast.value._tag === "RunFinished" && nextLast.value.status)
        .toBe("succeeded")
    }).pipe(Effect.ensuring(Effect.flatMap(ItsmSimulator.ItsmSimulator, (sim) => sim.setLatency({ ms: 0 })))))
})
