/**
 * The HTTP plumbing every adapter shares: one call is a GET that returns parsed JSON, or a tagged
 * error saying what failed and where. Timeouts, broken connections, malformed bodies and 5xx are
 * retried with exponential backoff and full jitter; 429 waits out `Retry-After` (pausing the whole
 * rate budget of the org and adapter) without spending a retry; a 401 refreshes the token once.
 */
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Duration, Effect, Metric, Option, Random } from "effect"
import type { RateBudget } from "./RateBudget.js"
import * as RateBudgets from "./RateBudget.js"
import * as SourceAuth from "./SourceAuth.js"
import {
  SourceAuthError,
  type SourceError,
  SourceRateLimitedError,
  SourceResponseError,
  SourceStatusError,
  SourceTimeoutError,
  SourceTransportError
} from "./SourceError.js"

/** Requests answered by sources, by adapter, org and HTTP status (0: no answer). */
export const requestsTotal = Metric.counter("tidemark_source_requests_total", {
  description: "HTTP requests to external sources, by adapter, org and status",
  incremental: true
})

/** 429 answers waited out. */
export const rateLimitedTotal = Metric.counter("tidemark_source_rate_limited_total", {
  description: "429 answers from external sources",
  incremental: true
})

export interface SourceHttpOptions {
  readonly adapter: string
  readonly org: string
  /** Base URL of the source; request paths are relative to it. */
  readonly baseUrl: string
  readonly auth: SourceAuth.SourceAuthConfig
  /** Per attempt, including reading the body; default 30 s. */
  readonly timeoutMillis?: number
  /** Retries after the first attempt for timeouts, transport errors, malformed bodies and 5xx; default 5. */
  readonly maxRetries?: number
  /** First backoff; doubled per retry, capped by `retryMaxMillis`, fully jittered; default 250 ms. */
  readonly retryBaseMillis?: number
  /** Default 10 s. */
  readonly retryMaxMillis?: number
  /** How many 429s one call waits out before failing; default 50. */
  readonly maxRateLimitWaits?: number
  /** Shared per (org, adapter); default unlimited. */
  readonly rateLimit?: RateBudgets.RateBudgetSettings
}

export interface JsonResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: unknown
}

export interface SourceHttp {
  readonly options: SourceHttpOptions
  /** GET `path` (relative to the base URL) with query `params`; `entity` only labels errors and logs. */
  readonly getJson: (
    path: string,
    params: Readonly<Record<string, string>>,
    entity?: string
  ) => Effect.Effect<JsonResponse, SourceError>
}

type Attempt =
  | { readonly _tag: "Ok"; readonly response: JsonResponse }
  | { readonly _tag: "Retry"; readonly error: SourceError }
  | { readonly _tag: "RateLimited"; readonly waitMillis: number }
  | { readonly _tag: "Unauthorized"; readonly header: string; readonly error: SourceError }
  | { readonly _tag: "Fail"; readonly error: SourceError }

/** `Retry-After` is either delta-seconds or an HTTP date. */
export const retryAfterMillis = (value: string | undefined, now: number): number => {
  if (value === undefined) return 1000
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(value)
  return Number.isFinite(date) ? Math.max(0, date - now) : 1000
}

const sourceMessage = (body: unknown): string => {
  if (typeof body === "object" && body !== null && "error" in body) {
    const error = body.error
    if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
      return error.message
    }
    if (typeof error === "string") return error
  }
  return "no error message in the body"
}

const excerpt = (text: string) => (text.length > 500 ? `${text.slice(0, 500)}…` : text)

const tryParse = (text: string): Option.Option<unknown> => {
  try {
    return Option.some(JSON.parse(text))
  } catch {
    return Option.none()
  }
}

export const make = (
  options: SourceHttpOptions
): Effect.Effect<SourceHttp, never, HttpClient.HttpClient | RateBudgets.RateBudgets> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const budgets = yield* RateBudgets.RateBudgets
    const budget: RateBudget = yield* budgets.forSource(
      options.org,
      options.adapter,
      options.rateLimit ?? { requestsPerSecond: Infinity }
    )
    const auth = yield* SourceAuth.make(options.auth, options)
    const timeoutMillis = options.timeoutMillis ?? 30_000
    const maxRetries = options.maxRetries ?? 5
    const baseMillis = options.retryBaseMillis ?? 250
    const maxMillis = options.retryMaxMillis ?? 10_000
    const maxWaits = options.maxRateLimitWaits ?? 50
    const base = options.baseUrl.replace(/\/+$/, "")

    const getJson = (path: string, params: Readonly<Record<string, string>>, entity?: string) => {
      const url = `${base}${path.startsWith("/") ? path : `/${path}`}`
      const where = { adapter: options.adapter, org: options.org, entity, method: "GET", url }

      const attemptOnce = (attempts: number): Effect.Effect<Attempt, SourceAuthError> =>
        Effect.gen(function*() {
          yield* budget.acquire
          const header = yield* auth.header
          const request = HttpClientRequest.get(url).pipe(
            HttpClientRequest.setUrlParams(params),
            HttpClientRequest.acceptJson,
            Option.isSome(header) ? HttpClientRequest.setHeader("authorization", header.value) : (r) => r
          )
          const exchange = Effect.flatMap(
            client.execute(request),
            (response: HttpClientResponse.HttpClientResponse) =>
              Effect.map(response.text, (text) => ({ response, text }))
          )
          const outcome = yield* exchange.pipe(
            Effect.timeout(Duration.millis(timeoutMillis)),
            Effect.either
          )
          if (outcome._tag === "Left") {
            const error = outcome.left
            if (error._tag === "TimeoutException") {
              return { _tag: "Retry", error: new SourceTimeoutError({ ...where, timeoutMillis, attempts }) } as const
            }
            return {
              _tag: "Retry",
              error: new SourceTransportError({ ...where, reason: error.message, attempts })
            } as const
          }
          const { response, text } = outcome.right
          const parsed = tryParse(text)
          const status = response.status
          yield* Metric.increment(Metric.tagged(
            Metric.tagged(Metric.tagged(requestsTotal, "adapter", options.adapter), "org", options.org),
            "status",
            String(status)
          ))
          if (status === 429) {
            yield* Metric.increment(
              Metric.tagged(Metric.tagged(rateLimitedTotal, "adapter", options.adapter), "org", options.org)
            )
          }
          if (status === 429) {
            const now = Date.now()
            return { _tag: "RateLimited", waitMillis: retryAfterMillis(response.headers["retry-after"], now) } as const
          }
          if (status >= 200 && status < 300) {
            if (Option.isNone(parsed)) {
              const reason = text.length === 0 ? "empty body" : "body is not complete JSON (truncated?)"
              return {
                _tag: "Retry",
                error: new SourceResponseError({ ...where, reason, bodyExcerpt: excerpt(text), attempts })
              } as const
            }
            return { _tag: "Ok", response: { status, headers: response.headers, body: parsed.value } } as const
          }
          const error = new SourceStatusError({
            ...where,
            status,
            sourceMessage: sourceMessage(Option.getOrUndefined(parsed)),
            body: excerpt(text),
            attempts
          })
          if (status === 401 && Option.isSome(header) && auth.refreshable) {
            return { _tag: "Unauthorized", header: header.value, error } as const
          }
          if (status >= 500 || status === 408) return { _tag: "Retry", error } as const
          return { _tag: "Fail", error } as const
        })

      const backoff = (retry: number) =>
        Effect.flatMap(
          Random.nextRange(0, Math.min(maxMillis, baseMillis * 2 ** retry)),
          (millis) => Effect.sleep(Duration.millis(millis))
        )

      const loop = (
        attempts: number,
        retries: number,
        waits: number,
        refreshed: boolean
      ): Effect.Effect<JsonResponse, SourceError> =>
        Effect.flatMap(attemptOnce(attempts), (attempt): Effect.Effect<JsonResponse, SourceError> => {
          switch (attempt._tag) {
            case "Ok":
              return Effect.succeed(attempt.response)
            case "Fail":
              return Effect.fail(attempt.error)
            case "Unauthorized":
              if (refreshed) {
                return Effect.fail(
                  new SourceAuthError({
                    adapter: options.adapter,
                    org: options.org,
                    url,
                    status: 401,
                    reason: `a freshly issued credential was refused too: ${attempt.error.message}`
                  })
                )
              }
              return Effect.zipRight(auth.rejected(attempt.header), loop(attempts + 1, retries, waits, true))
            case "RateLimited":
              if (waits >= maxWaits) {
                return Effect.fail(
                  new SourceRateLimitedError({ ...where, waits, lastRetryAfterMillis: attempt.waitMillis })
                )
              }
              return Effect.logDebug("rate limited by the source; waiting").pipe(
                Effect.annotateLogs({ url, waitMillis: attempt.waitMillis }),
                Effect.zipRight(budget.pauseFor(attempt.waitMillis)),
                Effect.zipRight(loop(attempts + 1, retries, waits + 1, refreshed))
              )
            case "Retry":
              if (retries >= maxRetries) return Effect.fail(attempt.error)
              return Effect.logDebug(`retrying: ${attempt.error.message}`).pipe(
                Effect.zipRight(backoff(retries)),
                Effect.zipRight(loop(attempts + 1, retries + 1, waits, refreshed))
              )
          }
        })

      return loop(1, 0, 0, false).pipe(Effect.withSpan("SourceHttp.getJson", { attributes: { url, entity } }))
    }

    return { options, getJson }
  })
