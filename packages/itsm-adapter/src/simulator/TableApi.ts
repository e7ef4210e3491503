import { Either } from "effect"
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http"
import type { SimulatorCore } from "./Core.js"
import { badRequest, notFound, SimulatorRequestError } from "./Errors.js"
import { sendError, sendJson, sendText, sendTruncated } from "./Http.js"
import { execute } from "./QueryPlan.js"
import { corrupt, type DisplayMode, type RenderedRecord, renderRecord, type RenderOptions } from "./Render.js"
import { fieldsOf } from "./tables/Catalog.js"
import type { FieldSpec, TableName } from "./tables/TableSpec.js"

export const TABLE_PATH = /^\/api\/now\/(?:v\d\/)?table\/([^/]+)(?:\/([^/]+))?\/?$/

const DEFAULT_LIMIT = 1000
const MAX_LIMIT = 10_000

interface LogFields {
  readonly table: string | null
  readonly status: number
  readonly count: number
  readonly firstKey: string | null
  readonly lastKey: string | null
}

/**
 * `GET /api/now/table/{table}[/{sys_id}]`: authentication, rate limit, latency, injected
 * faults, then the query. Everything after the latency runs synchronously, so a page is a
 * consistent snapshot even while a mutation stream runs.
 */
export const handleTableRequest = (
  core: SimulatorCore,
  baseUrl: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  match: RegExpExecArray
): void => {
  core.counters.requests++
  const { ms, jitterMs } = core.latency
  const delay = ms + (jitterMs > 0 ? Math.random() * jitterMs : 0)
  const run = () => serve(core, baseUrl, req, res, url, match)
  // Zero latency must not cost a timer: a benchmark pulls hundreds of thousands of records.
  if (delay > 0) setTimeout(run, delay)
  else run()
}

const serve = (
  core: SimulatorCore,
  baseUrl: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  match: RegExpExecArray
): void => {
  const tableName = decodeURIComponent(match[1] as string)
  const sysId = match[2] === undefined ? undefined : decodeURIComponent(match[2])
  const params = url.searchParams
  const limitParam = params.get("sysparm_limit")
  const offsetParam = params.get("sysparm_offset")
  const finish = (entry: LogFields) => {
    core.counters.countStatus(entry.status)
    core.counters.recordsServed += entry.count
    core.log.append({
      method: req.method ?? "GET",
      path: url.pathname,
      query: params.get("sysparm_query"),
      offset: offsetParam === null ? null : Number(offsetParam),
      limit: limitParam === null ? null : Number(limitParam),
      ...entry
    })
  }
  const fail = (error: SimulatorRequestError, headers: OutgoingHttpHeaders = {}) => {
    sendError(res, error, headers)
    finish({ table: tableName, status: error.status, count: 0, firstKey: null, lastKey: null })
  }

  if (req.method !== "GET") {
    return fail(
      new SimulatorRequestError({
        status: 405,
        message: "Method not Supported",
        detail: `${req.method} is not supported by the simulator's Table API`
      })
    )
  }
  const principal = core.auth.authenticate(req.headers.authorization)
  if (principal === null) {
    return fail(
      new SimulatorRequestError({
        status: 401,
        message: "User Not Authenticated",
        detail: "Required to provide Auth information"
      })
    )
  }
  const rate = core.rateLimiter.take(principal, Date.now())
  const rateHeaders: OutgoingHttpHeaders = rate === null ? {} : { "X-RateLimit-Limit": String(rate.limit) }
  if (rate !== null && !rate.allowed) {
    core.counters.rateLimited++
    return fail(
      new SimulatorRequestError({
        status: 429,
        message: "Too many requests",
        detail: `Rate limit of ${rate.limit} requests per second exceeded; retry after ${rate.retryAfter}s`
      }),
      { ...rateHeaders, "Retry-After": String(rate.retryAfter), "X-RateLimit-Reset": String(rate.resetAt) }
    )
  }
  if (rate !== null && rate.allowed) rateHeaders["X-RateLimit-Remaining"] = String(rate.remaining)

  const table = core.table(tableName)
  if (Either.isLeft(table)) return fail(table.left, rateHeaders)

  const fault = core.faults.take(tableName, ["5xx", "timeout", "truncate"])
  if (fault?.kind === "5xx") {
    const status = fault.status ?? 500
    const message = status === 502 ? "Bad Gateway" : status === 503 ? "Service Unavailable" : "Internal Server Error"
    return fail(new SimulatorRequestError({ status, message, detail: "Injected fault" }), rateHeaders)
  }
  if (fault?.kind === "timeout") {
    // Never answered: the client's timeout fires, or the socket closes with the server.
    return finish({ table: tableName, status: 0, count: 0, firstKey: null, lastKey: null })
  }

  const options = renderOptions(table.right, params, baseUrl)
  if (Either.isLeft(options)) return fail(options.left, rateHeaders)
  const store = core.dataset.store(table.right)
  const render = (r: number): RenderedRecord => {
    const rendered = renderRecord(core.dataset, core.dataset.record(table.right, r), options.right)
    return store.isInvalid(r) ? corrupt(rendered) : rendered
  }
  const send = (text: string, headers: OutgoingHttpHeaders, keys: ReadonlyArray<number>) => {
    if (fault?.kind === "truncate") sendTruncated(res, text, headers)
    else sendText(res, 200, text, headers)
    finish({
      table: tableName,
      status: 200,
      count: keys.length,
      firstKey: keys.length === 0 ? null : store.idHex(keys[0] as number),
      lastKey: keys.length === 0 ? null : store.idHex(keys[keys.length - 1] as number)
    })
  }

  if (sysId !== undefined) {
    const r = store.findById(sysId)
    if (!store.isLive(r)) {
      return fail(
        notFound("No Record found", "Record doesn't exist or ACL restricts the record retrieval"),
        rateHeaders
      )
    }
    let record = render(r)
    if (core.faults.take(tableName, ["invalid-record"]) !== null) record = corrupt(record)
    return send(JSON.stringify({ result: record }), rateHeaders, [r])
  }

  const limit = parseCount(limitParam, DEFAULT_LIMIT, 1)
  const offset = parseCount(offsetParam, 0, 0)
  if (limit === undefined) {
    return fail(badRequest(`Invalid sysparm_limit: ${limitParam}`, "expected a positive integer"), rateHeaders)
  }
  if (offset === undefined) {
    return fail(badRequest(`Invalid sysparm_offset: ${offsetParam}`, "expected a non-negative integer"), rateHeaders)
  }
  const effectiveLimit = Math.min(limit, MAX_LIMIT)
  const plan = core.plan(table.right, params.get("sysparm_query") ?? "")
  if (Either.isLeft(plan)) return fail(plan.left, rateHeaders)
  const wantCount = params.get("sysparm_no_count") !== "true"
  const page = execute(core.dataset, store, plan.right, offset, effectiveLimit, wantCount)
  const records = page.records.map(render)
  if (records.length > 0 && core.faults.take(tableName, ["invalid-record"]) !== null) {
    records[0] = corrupt(records[0] as RenderedRecord)
  }
  const headers: OutgoingHttpHeaders = {
    ...rateHeaders,
    Link: linkHeader(baseUrl, url, offset, effectiveLimit, page.hasMore, page.total)
  }
  if (page.total !== null) headers["X-Total-Count"] = String(page.total)
  send(JSON.stringify({ result: records }), headers, page.records)
}

const parseCount = (text: string | null, fallback: number, min: number): number | undefined => {
  if (text === null || text === "") return fallback
  if (!/^\d+$/.test(text)) return undefined
  const n = Number(text)
  return n >= min && Number.isSafeInteger(n) ? n : undefined
}

const renderOptions = (
  table: TableName,
  params: URLSearchParams,
  baseUrl: string
): Either.Either<RenderOptions, SimulatorRequestError> => {
  const fields = fieldsOf(table)
  const requested = (params.get("sysparm_fields") ?? "").split(",").map((f) => f.trim()).filter((f) => f !== "")
  // Like ServiceNow, unknown names in sysparm_fields are left out rather than refused.
  const projected = [...new Set(requested)].map((name) => fields.byName.get(name)).filter(
    (f): f is FieldSpec => f !== undefined
  )
  const displayParam = (params.get("sysparm_display_value") ?? "false").toLowerCase()
  if (displayParam !== "false" && displayParam !== "true" && displayParam !== "all") {
    return Either.left(badRequest(`Invalid sysparm_display_value: ${displayParam}`, "expected true, false or all"))
  }
  return Either.right({
    fields: requested.length === 0 ? fields.list : projected,
    allFields: requested.length === 0,
    display: displayParam as DisplayMode,
    excludeReferenceLink: params.get("sysparm_exclude_reference_link") === "true",
    baseUrl
  })
}

/** ServiceNow's `Link` header: first, prev, next and last pages by sysparm_offset. */
const linkHeader = (
  baseUrl: string,
  url: URL,
  offset: number,
  limit: number,
  hasMore: boolean,
  total: number | null
): string => {
  const link = (at: number, rel: string) => {
    const params = new URLSearchParams(url.searchParams)
    params.set("sysparm_limit", String(limit))
    params.set("sysparm_offset", String(at))
    return `<${baseUrl}${url.pathname}?${params.toString()}>;rel="${rel}"`
  }
  const links = [link(0, "first")]
  if (offset > 0) links.push(link(Math.max(0, offset - limit), "prev"))
  if (hasMore) links.push(link(offset + limit, "next"))
  if (total !== null) links.push(link(Math.floor(Math.max(0, total - 1) / limit) * limit, "last"))
  return links.join(",")
}

/** `POST /oauth_token.do` (form-encoded). */
export const handleToken = (
  core: SimulatorCore,
  req: IncomingMessage,
  res: ServerResponse,
  body: string | null
): void => {
  core.counters.requests++
  const answer = body === null
    ? { status: 400, body: { error: "invalid_request", error_description: "Body too large" } }
    : core.auth.issue(new URLSearchParams(body), req.headers.authorization)
  const respond = () => {
    sendJson(res, answer.status, answer.body)
    core.counters.countStatus(answer.status)
    core.log.append({
      method: "POST",
      path: "/oauth_token.do",
      table: null,
      query: null,
      offset: null,
      limit: null,
      status: answer.status,
      count: 0,
      firstKey: null,
      lastKey: null
    })
  }
  const delay = core.latency.ms + (core.latency.jitterMs > 0 ? Math.random() * core.latency.jitterMs : 0)
  if (delay > 0) setTimeout(respond, delay)
  else respond()
}
