/**
 * The two reads a dashboard makes most — the overview and an incident's risk — answered straight on
 * `node:http`, in front of the Effect HTTP stack.
 *
 * Why: measured on a 2-core machine, a bare `node:http` answer costs about 0.02 ms of CPU, an
 * `HttpLayerRouter` route with precomputed bytes 0.13 ms and an `HttpApi` endpoint 0.4 ms before any
 * SQL (docs/benchmarks.md). The overview must serve at half the rate of a bare server, so its common
 * case cannot go through the router at all.
 *
 * What: a plain GET of `/api/v1/dashboard/overview` or `/api/v1/incidents/{id}/risk` without query
 * parameters, with a bearer token that grants read access, is answered here: the overview from its
 * snapshot (`OverviewSnapshots`), the risk from `risksOf` (requests arriving together share one
 * statement), both serialised to the bytes the `HttpApi` endpoint sends. Everything else — other paths and methods, query
 * parameters, a refused token, an unknown incident, a failure — is passed on untouched to the Effect
 * HTTP stack, which owns every error response and the OpenAPI document. The fast path never answers
 * an error itself.
 */
import { NodeHttpServer } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql"
import { Context, Effect, Either, Exit, FiberSet, Layer, Option } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"
import { DashboardAccess, ORG_HEADER } from "./DashboardAccess.js"
import type { IncidentRisk } from "./Models.js"
import { layer as snapshotsLayer, OverviewSnapshots, type Options as SnapshotOptions } from "./OverviewSnapshots.js"
import { type RiskQuery, risksOf } from "./Risk.js"

export const OVERVIEW_PATH = "/api/v1/dashboard/overview"
/** At most this many risks per statement; more pending make several statements, run in parallel. */
const MAX_RISK_BATCH = 32
const RISK_PATH = /^\/api\/v1\/incidents\/([A-Za-z0-9_-]{1,64})\/risk$/

export interface FastReadsShape {
  /**
   * Takes the request and answers it (returns true), or leaves it alone (returns false). A request
   * taken may still be handed back later through `passOn` (unknown id, a failure) as long as nothing
   * was written to the response.
   */
  readonly handle: (request: Http.IncomingMessage, response: Http.ServerResponse, passOn: () => void) => boolean
  /** Requests answered here since start, and those taken but handed back. */
  readonly counts: () => { readonly overview: number; readonly risk: number; readonly handedBack: number }
}

export class FastReads extends Context.Tag("@tidemark/dashboard-api/FastReads")<FastReads, FastReadsShape>() {}


const send = (response: Http.ServerResponse, body: Uint8Array) => {
  response.writeHead(200, { "content-type": "application/json", "content-length": body.byteLength })
  response.end(body)
}

const bearer = (header: string | undefined) =>
  header !== undefined && header.length > 7 && header.slice(0, 7).toLowerCase() === "bearer " ? header.slice(7) : ""

/**
 * The handler over the context's access rules, snapshots and database. Effects it starts run in a
 * `FiberSet` of the layer's scope (as `NodeHttpServer` runs its handlers), so they end with it.
 */
export const make = Effect.gen(function*() {
  const access = yield* DashboardAccess
  const snapshots = yield* OverviewSnapshots
  const runFork = yield* FiberSet.makeRuntime<SqlClient.SqlClient>()
  const counts = { overview: 0, risk: 0, handedBack: 0 }
  const handBack = (passOn: () => void) => {
    counts.handedBack++
    passOn()
  }

  const orgOf = (request: Http.IncomingMessage): string | undefined => {
    const requestedOrg = request.headers[ORG_HEADER]
    const granted = access.check(
      bearer(request.headers.authorization),
      typeof requestedOrg === "string" && requestedOrg !== "" ? requestedOrg : undefined
    )
    return Either.isRight(granted) && granted.right.scopes.has("read") ? granted.right.orgId : undefined
  }

  const overview = (orgId: string, response: Http.ServerResponse, passOn: () => void) => {
    counts.overview++
    const snapshot = snapshots.current(orgId)
    if (snapshot !== undefined) return send(response, snapshot.body)
    runFork(snapshots.get(orgId)).addObserver((exit) =>
      Exit.isSuccess(exit) ? send(response, exit.value.body) : handBack(passOn)
    )
  }

  // Risk requests parsed in one turn of the event loop go to Postgres together, as one statement
  // (`risksOf`): under load that is one round trip, one backend wake-up and one plan for many.
  const pending: Array<{ readonly query: RiskQuery; readonly done: (body: Uint8Array | undefined) => void }> = []
  let flushScheduled = false
  const flush = () => {
    flushScheduled = false
    while (pending.length > 0) {
      const batch = pending.splice(0, MAX_RISK_BATCH)
      runFork(risksOf(batch.map((entry) => entry.query)).pipe(
        // No spans: at thousands of requests per second they cost more than this process's share
        // of the work, and nothing exports them per request.
        Effect.withTracerEnabled(false)
      )).addObserver((exit) => {
        batch.forEach((entry, n) => {
          const risk = Exit.isSuccess(exit) ? exit.value[n] : undefined
          // The schema's encoding of IncidentRisk only turns dates into ISO strings, as
          // JSON.stringify does (the API tests compare both paths' bytes).
          entry.done(
            risk !== undefined && Option.isSome(risk)
              ? Buffer.from(JSON.stringify(risk.value satisfies IncidentRisk))
              : undefined
          )
        })
      })
    }
  }

  const risk = (orgId: string, id: string, response: Http.ServerResponse, passOn: () => void) => {
    counts.risk++
    pending.push({
      query: { orgId, id, asOf: new Date() },
      done: (body) => (body !== undefined ? send(response, body) : handBack(passOn))
    })
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flush)
    }
  }

  const handle: FastReadsShape["handle"] = (request, response, passOn) => {
    if (request.method !== "GET") return false
    const url = request.url ?? ""
    const riskId = url === OVERVIEW_PATH ? undefined : RISK_PATH.exec(url)?.[1]
    if (url !== OVERVIEW_PATH && riskId === undefined) return false
    const orgId = orgOf(request)
    if (orgId === undefined) return false
    if (riskId === undefined) overview(orgId, response, passOn)
    else risk(orgId, riskId, response, passOn)
    return true
  }
  return FastReads.of({ handle, counts: () => ({ ...counts }) })
})

export const layer: Layer.Layer<FastReads, never, DashboardAccess | OverviewSnapshots | SqlClient.SqlClient> = Layer
  .scoped(FastReads, make)

/**
 * A `node:http` server that offers each request to `fast` first and emits it to its listeners (the
 * Effect HTTP stack's) when `fast` leaves it or hands it back.
 */
export const makeServer = (fast: FastReadsShape): Http.Server => {
  const server = Http.createServer()
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: ReadonlyArray<unknown>) => boolean
  // Replaced on the instance: `emit` is how `http.Server` hands a parsed request to its listeners.
  server.emit = ((event: string | symbol, ...args: ReadonlyArray<unknown>) => {
    if (event === "request") {
      const request = args[0] as Http.IncomingMessage
      const response = args[1] as Http.ServerResponse
      if (fast.handle(request, response, () => emit(event, request, response))) return true
    }
    return emit(event, ...args)
  }) as typeof server.emit
  return server
}

/**
 * `NodeHttpServer.layer` on a server with the fast reads in front, with `FastReads` and the
 * `OverviewSnapshots` it shares with the HttpApi's overview handler: serve the router on it,
 * `HttpLayerRouter.serve(routes).pipe(Layer.provideMerge(FastReads.layerServer({ port })))`.
 * Needs `DashboardAccess`, a `PgClient` and its `SqlClient`.
 */
export const layerServer = (listen: Net.ListenOptions, snapshots: SnapshotOptions = {}) =>
  Layer.unwrapEffect(Effect.map(FastReads, (fast) => NodeHttpServer.layer(() => makeServer(fast), listen))).pipe(
    Layer.provideMerge(layer),
    Layer.provideMerge(snapshotsLayer(snapshots))
  )
