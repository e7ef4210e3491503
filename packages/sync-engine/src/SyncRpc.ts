/**
 * The engine API as an @effect/rpc group over HTTP: the server mounts it on an `HttpLayerRouter`, the
 * CLI and tests reach it with `layerHttpClient`. Requests and responses are NDJSON, so that `WatchRun`
 * streams progress events as they happen instead of one body at the end.
 */
import { FetchHttpClient, HttpClient, type HttpLayerRouter, type HttpRouter } from "@effect/platform"
import { Rpc, RpcClient, type RpcClientError, RpcGroup, RpcSerialization, RpcServer } from "@effect/rpc"
import { DependencyGraph } from "@tidemark/adapter-core"
import { Context, Effect, Layer, ParseResult, Schema } from "effect"
import { SyncEngine } from "./SyncEngine.js"
import {
  InvalidRunRequestError,
  ProgressEvent,
  Run,
  RunConflictError,
  RunIdReusedError,
  RunNotFoundError,
  RunStatus,
  StartRunRequest
} from "./SyncRun.js"

/** Where the server mounts the group unless told otherwise, and where the CLI looks for it. */
export const defaultPath = "/rpc"

export const PlanResult = Schema.Struct({
  adapter: Schema.String,
  levels: Schema.Array(Schema.Array(Schema.String)),
  graph: DependencyGraph.DependencyGraphJson,
  mermaid: Schema.String
})
export type PlanResult = typeof PlanResult.Type

/**
 * StartRunRequest's fields, but as plain strings on the wire. The RPC server turns a payload that fails
 * its schema into a defect (a formatted string, not a typed error), so the request is checked against
 * `StartRunRequest` in the handler instead, where a bad field becomes `InvalidRunRequestError` naming it.
 */
export const StartRunPayload = Schema.Struct({
  orgId: Schema.String,
  adapter: Schema.String,
  syncType: Schema.String,
  entities: Schema.optional(Schema.Array(Schema.String)),
  runId: Schema.optional(Schema.String)
})
export type StartRunPayload = typeof StartRunPayload.Type

export class SyncRpcs extends RpcGroup.make(
  Rpc.make("StartRun", {
    payload: StartRunPayload,
    success: Run,
    error: Schema.Union(InvalidRunRequestError, RunConflictError, RunIdReusedError)
  }),
  Rpc.make("GetRun", {
    payload: { runId: Schema.String },
    success: Run,
    error: RunNotFoundError
  }),
  Rpc.make("ListRuns", {
    payload: {
      orgId: Schema.optional(Schema.String),
      status: Schema.optional(RunStatus),
      /** Default 50, at most 500. */
      limit: Schema.optional(Schema.Int)
    },
    success: Schema.Array(Run)
  }),
  Rpc.make("WatchRun", {
    payload: { runId: Schema.String },
    success: ProgressEvent,
    error: RunNotFoundError,
    stream: true
  }),
  Rpc.make("CancelRun", {
    payload: { runId: Schema.String },
    success: Run,
    error: RunNotFoundError
  }),
  Rpc.make("Plan", {
    payload: {
      adapter: Schema.String,
      entities: Schema.optional(Schema.Array(Schema.String))
    },
    success: PlanResult,
    error: InvalidRunRequestError
  })
) {}

const expectedActual = /^Expected (.+), actual (.+)$/s

/**
 * The first offending top-level field of a request and why, in one line. A literal union reports one
 * issue per member ("Expected "full", actual ..."), merged here into one list of what is accepted; an
 * optional array reports both the bad item and "Expected undefined", so only the deepest issues count.
 */
export const invalidRequestFromParseError = (error: ParseResult.ParseError): InvalidRunRequestError => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  if (first === undefined) return new InvalidRunRequestError({ field: "request", reason: error.message })
  const field = first.path.length === 0 ? "request" : String(first.path[0])
  const ofField = issues.filter((issue) => String(issue.path[0] ?? "request") === field)
  const depth = Math.max(...ofField.map((issue) => issue.path.length))
  const deepest = ofField.filter((issue) => issue.path.length === depth)
  const expected: Array<string> = []
  let actual: string | undefined
  const others: Array<string> = []
  for (const issue of deepest) {
    const where = issue.path.length > 1 ? `[${issue.path.slice(1).map(String).join("][")}] ` : ""
    const match = expectedActual.exec(issue.message)
    if (match !== null && where === "") {
      expected.push(match[1]!)
      actual = match[2]!
    } else {
      others.push(`${where}${issue.message}`)
    }
  }
  const merged = actual === undefined ? [] : [`expected ${expected.join(" | ")}, got ${actual}`]
  return new InvalidRunRequestError({ field, reason: [...merged, ...others].join("; ") })
}

const decodeStartRunRequest = (payload: StartRunPayload) =>
  Schema.decodeUnknown(StartRunRequest)(payload, { errors: "all" }).pipe(
    Effect.mapError(invalidRequestFromParseError)
  )

/** The handlers: each a thin call into `SyncEngine`. */
export const SyncRpcsLive = SyncRpcs.toLayer(Effect.gen(function*() {
  const engine = yield* SyncEngine
  return SyncRpcs.of({
    StartRun: (payload) => Effect.flatMap(decodeStartRunRequest(payload), engine.startRun),
    GetRun: ({ runId }) => engine.getRun(runId),
    ListRuns: (options) => engine.listRuns(options),
    WatchRun: ({ runId }) => engine.watchRun(runId),
    CancelRun: ({ runId }) => engine.cancelRun(runId),
    Plan: ({ adapter, entities }) => engine.plan(adapter, entities)
  })
}))

/**
 * Registers `POST {path}` (default `/rpc`) on the app's `HttpLayerRouter`; serve the router with
 * `HttpLayerRouter.serve(...)` beside the other routes. Needs the `SyncEngine`.
 */
export const layerHttpServer = (options: { readonly path?: HttpRouter.PathInput } = {}): Layer.Layer<
  never,
  never,
  HttpLayerRouter.HttpRouter | SyncEngine
> =>
  RpcServer.layerHttpRouter({ group: SyncRpcs, path: options.path ?? defaultPath, protocol: "http" }).pipe(
    Layer.provide(SyncRpcsLive),
    Layer.provide(RpcSerialization.layerNdjson)
  )

/** A client of the group; every call may also fail with `RpcClientError` (server unreachable, bad reply). */
export class SyncRpcClient extends Context.Tag("@tidemark/sync-engine/SyncRpcClient")<
  SyncRpcClient,
  RpcClient.RpcClient<RpcGroup.Rpcs<typeof SyncRpcs>, RpcClientError.RpcClientError>
>() {}

// Without the status check, a wrong path's 404 page would be read as NDJSON, and the call never answered.
const httpClientStatusOk = Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, HttpClient.filterStatusOk))
  .pipe(Layer.provide(FetchHttpClient.layer))

/** A client over HTTP to `url`, the full address of the mounted group, e.g. `http://127.0.0.1:8080/rpc`. */
export const layerHttpClient = (url: string): Layer.Layer<SyncRpcClient> =>
  Layer.scoped(SyncRpcClient, RpcClient.make(SyncRpcs)).pipe(
    Layer.provide(RpcClient.layerProtocolHttp({ url })),
    Layer.provide(RpcSerialization.layerNdjson),
    Layer.provide(httpClientStatusOk)
  )

