import { Context, Effect, Either, Layer, Queue, type Scope } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AuthMode, Credentials } from "./Auth.js"
import { handleControl } from "./ControlApi.js"
import {
  type InvalidRequest,
  type LatencyConfig,
  SimulatorCore,
  type StreamConfig,
  type WebhookConfig
} from "./Core.js"
import { SimulatorRequestError, SimulatorStartError } from "./Errors.js"
import type { FaultRule } from "./Faults.js"
import { errorBody, readBody, sendJson } from "./Http.js"
import type { MutationRequest, MutationResult } from "./Mutations.js"
import * as MutationStream from "./MutationStream.js"
import type { RequestLogEntry, StatsSnapshot } from "./RequestLog.js"
import { resolveCounts, type ScaleName, type TableCounts } from "./Scale.js"
import { handleTableRequest, handleToken, TABLE_PATH } from "./TableApi.js"
import type { MutableRecord, TableName } from "./tables/TableSpec.js"
import { toEpochSeconds } from "./Time.js"
import type { TruthSnapshot } from "./Truth.js"
import * as Webhooks from "./Webhooks.js"

export interface SimulatorOptions {
  /** Port; default 0 (any free port, see `SimulatorHandle.port`). */
  readonly port?: number
  /** Interface to listen on; default 127.0.0.1 (0.0.0.0 to be reachable from other containers). */
  readonly host?: string
  /** Data seed; default 1. The same seed, base time and counts give the same data byte for byte. */
  readonly seed?: number | string
  /** Table sizes; default "demo". */
  readonly scale?: ScaleName
  /** Per-table counts overriding the scale. */
  readonly counts?: Partial<TableCounts>
  /** Where the clock starts; default now, rounded down to the second. Initial data lies before it. */
  readonly baseTime?: Date | string | number
  /** "realtime" (default): the clock follows real time; "manual": it only moves by `advanceClock`. */
  readonly clock?: "realtime" | "manual"
  /** "oauth" (default): Bearer tokens or Basic auth required; "none": anything goes. */
  readonly auth?: AuthMode
  /** Default client `tidemark` / `tidemark-secret`, user `admin` / `admin`. */
  readonly credentials?: Partial<Credentials>
  /** Lifetime of issued tokens; default 1800 s. */
  readonly tokenTtlSeconds?: number
  /** Added to every Table API and token request; default none. */
  readonly latency?: { readonly ms: number; readonly jitterMs?: number }
  /** Token bucket per credential; default off. */
  readonly rateLimit?: { readonly perSecond: number; readonly burst?: number }
  /** Background mutation stream; default off. */
  readonly mutations?: StreamConfig
  /** Where to POST each change; default none. */
  readonly webhook?: WebhookConfig
  /** Entries kept in the request log; default 100,000. */
  readonly requestLogSize?: number
}

/** The whole live ground truth of a table, as `GET /__sim/truth/{table}` streams it. */
export interface Truth {
  readonly result: ReadonlyArray<MutableRecord>
  readonly deleted: ReadonlyArray<string>
  readonly invalid: ReadonlyArray<string>
}

export interface SimulatorHandle {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string
  readonly port: number
  readonly credentials: Credentials
  /** The simulator clock, `YYYY-MM-DD HH:mm:ss`. */
  readonly now: () => Effect.Effect<string>
  readonly advanceClock: (seconds: number) => Effect.Effect<string>
  readonly mutate: (request: MutationRequest) => Effect.Effect<MutationResult, SimulatorRequestError>
  /** Reconfigures the background stream; `{ perSecond: 0 }` stops it. */
  readonly setStream: (config: StreamConfig) => Effect.Effect<void, SimulatorRequestError>
  readonly truth: (table: string) => Effect.Effect<Truth, SimulatorRequestError>
  /** The same, lazily materialised: for tables too large for one array. */
  readonly truthSnapshot: (table: string) => Effect.Effect<TruthSnapshot, SimulatorRequestError>
  readonly addFault: (rule: FaultRule) => Effect.Effect<void>
  readonly clearFaults: () => Effect.Effect<void>
  /** Makes records permanently invalid when served (by sys_id, or `count` random ones). */
  readonly markInvalid: (
    request: InvalidRequest
  ) => Effect.Effect<{ readonly invalid: ReadonlyArray<string> }, SimulatorRequestError>
  readonly setRateLimit: (config: { readonly perSecond: number; readonly burst?: number }) => Effect.Effect<void>
  readonly setLatency: (config: { readonly ms: number; readonly jitterMs?: number }) => Effect.Effect<void>
  /** Expires every token issued so far; returns how many. */
  readonly expireTokens: () => Effect.Effect<number>
  readonly setWebhook: (config: WebhookConfig | null) => Effect.Effect<void>
  readonly stats: () => Effect.Effect<StatsSnapshot>
  /** Request log entries after `since` (default 0: all kept). */
  readonly requests: (since?: number) => Effect.Effect<ReadonlyArray<RequestLogEntry>>
  readonly liveCounts: () => Effect.Effect<Readonly<Record<TableName, number>>>
}

export class ItsmSimulator extends Context.Tag("@tidemark/itsm-adapter/ItsmSimulator")<
  ItsmSimulator,
  SimulatorHandle
>() {}

const HOST = "127.0.0.1"

const fromEither = <A>(either: Either.Either<A, SimulatorRequestError>) =>
  Either.isRight(either) ? Effect.succeed(either.right) : Effect.fail(either.left)

/** Starts the simulator's HTTP server; it stops when the scope closes. */
export const make = (
  options: SimulatorOptions = {}
): Effect.Effect<SimulatorHandle, SimulatorStartError, Scope.Scope> =>
  Effect.gen(function*() {
    const baseTime = options.baseTime === undefined
      ? Math.floor(Date.now() / 1000)
      : toEpochSeconds(options.baseTime)
    if (baseTime === undefined) {
      return yield* Effect.dieMessage(`Invalid simulator baseTime: ${String(options.baseTime)}`)
    }
    const credentials: Credentials = {
      clientId: "tidemark",
      clientSecret: "tidemark-secret",
      username: "admin",
      password: "admin",
      ...options.credentials
    }
    const latency: LatencyConfig = { ms: options.latency?.ms ?? 0, jitterMs: options.latency?.jitterMs ?? 0 }
    const core = yield* Effect.sync(() =>
      new SimulatorCore({
        seed: options.seed ?? 1,
        baseTime,
        clockMode: options.clock ?? "realtime",
        counts: resolveCounts(options.scale ?? "demo", options.counts),
        auth: options.auth ?? "oauth",
        credentials,
        tokenTtlSeconds: options.tokenTtlSeconds ?? 1800,
        latency,
        rateLimit: options.rateLimit ?? { perSecond: 0 },
        stream: options.mutations ?? { perSecond: 0 },
        webhook: options.webhook === undefined || options.webhook.url === "" ? null : options.webhook,
        requestLogSize: options.requestLogSize ?? 100_000
      })
    )
    if (options.mutations !== undefined) yield* Effect.orDie(fromEither(core.setStream(options.mutations)))
    yield* Webhooks.start(core)
    yield* MutationStream.start(core)

    // Request handlers run outside Effect; their unexpected failures reach the logger through here.
    const defects = yield* Queue.unbounded<{ readonly path: string; readonly cause: unknown }>()
    yield* Queue.take(defects).pipe(
      Effect.flatMap(({ cause, path }) =>
        Effect.logError("Simulator request failed").pipe(Effect.annotateLogs({ path, cause: String(cause) }))
      ),
      Effect.forever,
      Effect.forkScoped
    )

    const host = options.host ?? HOST
    const server = yield* Effect.acquireRelease(listen(options.port ?? 0, host), closeServer)
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : options.port ?? 0
    const url = `http://${HOST}:${port}`
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      try {
        route(core, url, req, res)
      } catch (cause) {
        defects.unsafeOffer({ path: req.url ?? "", cause })
        if (!res.headersSent) sendJson(res, 500, errorBody("Internal simulator error", String(cause)))
      }
    })

    const handle: SimulatorHandle = {
      url,
      port,
      credentials,
      now: () => Effect.sync(() => core.now()),
      advanceClock: (seconds) => Effect.sync(() => core.advanceClock(seconds)),
      mutate: (request) => Effect.suspend(() => fromEither(core.mutate(request))),
      setStream: (config) => Effect.suspend(() => fromEither(core.setStream(config))).pipe(Effect.asVoid),
      truth: (table) =>
        Effect.suspend(() =>
          fromEither(Either.map(core.truth(table), (snapshot) => ({
            result: [...snapshot.records()],
            deleted: snapshot.deleted,
            invalid: snapshot.invalid
          })))
        ),
      truthSnapshot: (table) => Effect.suspend(() => fromEither(core.truth(table))),
      addFault: (rule) => Effect.sync(() => core.faults.add(rule)),
      clearFaults: () => Effect.sync(() => core.faults.clear()),
      markInvalid: (request) => Effect.suspend(() => fromEither(core.markInvalid(request))),
      setRateLimit: ({ burst, perSecond }) => Effect.sync(() => core.setRateLimit(perSecond, burst)),
      setLatency: ({ jitterMs, ms }) =>
        Effect.sync(() => {
          core.latency = { ms, jitterMs: jitterMs ?? 0 }
        }),
      expireTokens: () => Effect.sync(() => core.auth.expireAll()),
      setWebhook: (config) =>
        Effect.sync(() => {
          core.webhook = config === null || config.url === "" ? null : config
        }),
      stats: () => Effect.sync(() => core.stats()),
      requests: (since = 0) => Effect.sync(() => core.log.since(since)),
      liveCounts: () => Effect.sync(() => core.liveCounts())
    }
    return handle
  })

/** A layer providing a running simulator for the lifetime of the layer. */
export const layer = (options: SimulatorOptions = {}): Layer.Layer<ItsmSimulator, SimulatorStartError> =>
  Layer.scoped(ItsmSimulator, make(options))

const route = (core: SimulatorCore, url: string, req: IncomingMessage, res: ServerResponse): void => {
  const target = new URL(req.url ?? "/", url)
  if (target.pathname.startsWith("/__sim/")) return handleControl(core, req, res, target)
  if (target.pathname === "/oauth_token.do") {
    if (req.method !== "POST") return sendJson(res, 405, { error: "invalid_request", error_description: "POST only" })
    return readBody(req, (body) => handleToken(core, req, res, body))
  }
  const match = TABLE_PATH.exec(target.pathname)
  if (match !== null) return handleTableRequest(core, url, req, res, target, match)
  sendJson(res, 400, errorBody("Requested URI does not represent any resource", target.pathname))
}

const listen = (port: number, host: string): Effect.Effect<Server, SimulatorStartError> =>
  Effect.async<Server, SimulatorStartError>((resume) => {
    const server = createServer()
    // The Table API is polled with keep-alive; drop idle sockets sooner than clients do.
    server.keepAliveTimeout = 5_000
    const onError = (cause: Error) => resume(Effect.fail(new SimulatorStartError({ host, port, cause })))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resume(Effect.succeed(server))
    })
  })

/** Closes the server and every open socket, including requests held open by a timeout fault. */
const closeServer = (server: Server): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })

export { SimulatorRequestError, SimulatorStartError }
