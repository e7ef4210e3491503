import { Either, ParseResult, Schema } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { SimulatorCore } from "./Core.js"
import { badRequest, notFound, type SimulatorRequestError } from "./Errors.js"
import { JSON_CONTENT_TYPE, readBody, sendError, sendJson } from "./Http.js"

/** Request bodies of the control API (`/__sim/...`); the in-process handle takes the same shapes. */
export const MutateBody = Schema.Struct({
  table: Schema.String,
  creates: Schema.optional(Schema.NonNegativeInt),
  updates: Schema.optional(Schema.NonNegativeInt),
  deletes: Schema.optional(Schema.NonNegativeInt),
  sameTimestamp: Schema.optional(Schema.Boolean),
  keys: Schema.optional(Schema.Array(Schema.String)),
  updateKeys: Schema.optional(Schema.Array(Schema.String)),
  deleteKeys: Schema.optional(Schema.Array(Schema.String))
})

export const StreamBody = Schema.Struct({
  perSecond: Schema.NonNegative,
  mix: Schema.optional(Schema.Struct({
    create: Schema.optional(Schema.NonNegative),
    update: Schema.optional(Schema.NonNegative),
    delete: Schema.optional(Schema.NonNegative)
  })),
  burstEvery: Schema.optional(Schema.NonNegative),
  burstSize: Schema.optional(Schema.NonNegativeInt),
  tables: Schema.optional(Schema.Array(Schema.String))
})

export const ClockBody = Schema.Struct({ advanceSeconds: Schema.NonNegative })

export const FaultBody = Schema.Struct({
  kind: Schema.Literal("5xx", "timeout", "truncate", "invalid-record"),
  count: Schema.optional(Schema.NonNegativeInt),
  rate: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  table: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Literal(500, 502, 503))
})

export const InvalidBody = Schema.Struct({
  table: Schema.String,
  sys_ids: Schema.optional(Schema.Array(Schema.String)),
  count: Schema.optional(Schema.NonNegativeInt)
})

export const RateLimitBody = Schema.Struct({
  perSecond: Schema.NonNegative,
  burst: Schema.optional(Schema.NonNegative)
})

export const LatencyBody = Schema.Struct({
  ms: Schema.NonNegative,
  jitterMs: Schema.optional(Schema.NonNegative)
})

export const WebhookBody = Schema.Struct({
  url: Schema.String,
  secret: Schema.optional(Schema.String)
})

const decode = <A, I>(schema: Schema.Schema<A, I>, body: string | null): Either.Either<A, SimulatorRequestError> => {
  if (body === null) return Either.left(badRequest("Request body too large"))
  let json: unknown
  try {
    json = body.trim() === "" ? {} : JSON.parse(body)
  } catch {
    return Either.left(badRequest("Request body is not JSON"))
  }
  return Schema.decodeUnknownEither(schema)(json).pipe(
    Either.mapLeft((error) => badRequest("Invalid control request", ParseResult.TreeFormatter.formatErrorSync(error)))
  )
}

type Answer = Either.Either<unknown, SimulatorRequestError>

const ok = (value: unknown): Answer => Either.right(value)

/** `/__sim/...`: no authentication, no latency, no faults, not counted in stats. */
export const handleControl = (core: SimulatorCore, req: IncomingMessage, res: ServerResponse, url: URL): void => {
  const route = `${req.method ?? "GET"} ${url.pathname.replace(/\/+$/, "")}`
  const truth = /^GET \/__sim\/truth\/([^/]+)$/.exec(route)
  if (truth !== null) return streamTruth(core, res, decodeURIComponent(truth[1] as string))
  if (req.method === "GET" || req.method === "DELETE") return respond(res, route, answerNoBody(core, route, url))
  readBody(req, (body) => respond(res, route, answerWithBody(core, route, body)))
}

const respond = (res: ServerResponse, route: string, answer: Answer | undefined): void => {
  if (answer === undefined) return sendError(res, notFound(`No control endpoint ${route}`))
  if (Either.isLeft(answer)) return sendError(res, answer.left)
  sendJson(res, 200, answer.right)
}

const answerNoBody = (core: SimulatorCore, route: string, url: URL): Answer | undefined => {
  switch (route) {
    case "GET /__sim/stats":
      return ok(core.stats())
    case "GET /__sim/requests": {
      const since = Number(url.searchParams.get("since") ?? "0")
      if (!Number.isInteger(since)) return Either.left(badRequest("Invalid since", "expected an integer"))
      return ok(core.log.since(since))
    }
    case "GET /__sim/clock":
      return ok({ now: core.now() })
    case "GET /__sim/tables":
      return ok(core.liveCounts())
    case "GET /__sim/faults":
      return ok(core.faults.active())
    case "DELETE /__sim/faults":
      core.faults.clear()
      return ok({ cleared: true })
  }
  return undefined
}

const answerWithBody = (core: SimulatorCore, route: string, body: string | null): Answer | undefined => {
  switch (route) {
    case "POST /__sim/mutate":
      return Either.flatMap(decode(MutateBody, body), (request) => core.mutate(request))
    case "POST /__sim/stream":
      return Either.flatMap(
        decode(StreamBody, body),
        (config) => Either.map(core.setStream(config), (stream) => ({ stream }))
      )
    case "POST /__sim/clock":
      return Either.map(decode(ClockBody, body), ({ advanceSeconds }) => ({ now: core.advanceClock(advanceSeconds) }))
    case "POST /__sim/faults":
      return Either.map(decode(FaultBody, body), (rule) => {
        core.faults.add(rule)
        return { faults: core.faults.active() }
      })
    case "POST /__sim/invalid":
      return Either.flatMap(decode(InvalidBody, body), (request) => core.markInvalid(request))
    case "POST /__sim/rate-limit":
      return Either.map(decode(RateLimitBody, body), ({ burst, perSecond }) => {
        core.setRateLimit(perSecond, burst)
        return { perSecond: core.rateLimiter.perSecond, burst: core.rateLimiter.burst }
      })
    case "POST /__sim/latency":
      return Either.map(decode(LatencyBody, body), ({ jitterMs, ms }) => {
        core.latency = { ms, jitterMs: jitterMs ?? 0 }
        return core.latency
      })
    case "POST /__sim/tokens/expire":
      return ok({ expired: core.auth.expireAll() })
    case "POST /__sim/webhooks":
      return Either.map(decode(WebhookBody, body), ({ secret, url }) => {
        core.webhook = url === "" ? null : { url, secret: secret ?? "" }
        return { url, enabled: url !== "" }
      })
  }
  return undefined
}

const TRUTH_CHUNK = 1000

/**
 * Streams `{"result":[...],"deleted":[...],"invalid":[...]}` in chunks with back-pressure, so
 * a million-record table never becomes one string. The snapshot keeps it consistent.
 */
const streamTruth = (core: SimulatorCore, res: ServerResponse, table: string): void => {
  const snapshot = core.truth(table)
  if (Either.isLeft(snapshot)) return sendError(res, snapshot.left)
  const truth = snapshot.right
  res.writeHead(200, { "Content-Type": JSON_CONTENT_TYPE })
  res.write("{\"result\":[")
  let k = 0
  let closed = false
  res.on("close", () => {
    closed = true
  })
  const pump = (): void => {
    while (k < truth.size) {
      if (closed) return
      const start = k
      const end = Math.min(truth.size, k + TRUTH_CHUNK)
      const parts: Array<string> = []
      for (; k < end; k++) parts.push(JSON.stringify(truth.record(k)))
      if (!res.write((start > 0 ? "," : "") + parts.join(",")) && k < truth.size) {
        res.once("drain", pump)
        return
      }
    }
    res.end(`],"deleted":${JSON.stringify(truth.deleted)},"invalid":${JSON.stringify(truth.invalid)}}`)
  }
  pump()
}
