/**
 * Credentials for a source. OAuth2 client-credentials tokens are cached and refreshed on expiry and
 * on a 401; concurrent callers share one refresh, so an expired token costs one token request, not
 * one per caller.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Effect, Option, Redacted, SynchronizedRef } from "effect"
import { SourceAuthError } from "./SourceError.js"

export type SourceAuthConfig =
  | { readonly _tag: "None" }
  | { readonly _tag: "Basic"; readonly username: string; readonly password: Redacted.Redacted }
  | {
    readonly _tag: "OAuthClientCredentials"
    /** Absolute URL of the token endpoint (ServiceNow: `<instance>/oauth_token.do`). */
    readonly tokenUrl: string
    readonly clientId: string
    readonly clientSecret: Redacted.Redacted
    /** Refresh this long before the token's stated expiry; default 30 s. */
    readonly refreshSkewMillis?: number
  }

export interface SourceAuth {
  /** The `Authorization` header value to send, or none. */
  readonly header: Effect.Effect<Option.Option<string>, SourceAuthError>
  /** The source refused `header`: drop it (only if it is still the current one) so the next call refreshes. */
  readonly rejected: (header: string) => Effect.Effect<void>
  /** Whether a 401 may be cured by asking for a new credential. */
  readonly refreshable: boolean
}

interface CachedToken {
  readonly header: string
  readonly expiresAt: number
}

interface TokenResponse {
  readonly access_token?: unknown
  readonly expires_in?: unknown
  readonly error_description?: unknown
  readonly error?: unknown
}

const describe = (body: TokenResponse | undefined, fallback: string) =>
  typeof body?.error_description === "string"
    ? body.error_description
    : typeof body?.error === "string"
    ? body.error
    : fallback

export const make = (
  config: SourceAuthConfig,
  where: { readonly adapter: string; readonly org: string }
): Effect.Effect<SourceAuth, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    switch (config._tag) {
      case "None":
        return { header: Effect.succeed(Option.none()), rejected: () => Effect.void, refreshable: false }
      case "Basic": {
        const value = `Basic ${
          Buffer.from(`${config.username}:${Redacted.value(config.password)}`).toString("base64")
        }`
        return { header: Effect.succeed(Option.some(value)), rejected: () => Effect.void, refreshable: false }
      }
      case "OAuthClientCredentials": {
        const client = yield* HttpClient.HttpClient
        const skew = config.refreshSkewMillis ?? 30_000
        const refuse = (status: number, reason: string) =>
          new SourceAuthError({ ...where, url: config.tokenUrl, status, reason })
        const requestToken = Effect.gen(function*() {
          const request = HttpClientRequest.post(config.tokenUrl).pipe(
            HttpClientRequest.bodyUrlParams({
              grant_type: "client_credentials",
              client_id: config.clientId,
              client_secret: Redacted.value(config.clientSecret)
            }),
            HttpClientRequest.acceptJson
          )
          const response = yield* client.execute(request).pipe(
            Effect.timeout("30 seconds"),
            Effect.mapError((e) => refuse(0, `token request failed: ${e.message}`))
          )
          const body = yield* response.json.pipe(
            Effect.map((u) => (typeof u === "object" && u !== null ? u as TokenResponse : undefined)),
            Effect.orElseSucceed(() => undefined)
          )
          if (response.status !== 200 || typeof body?.access_token !== "string") {
            return yield* refuse(response.status, describe(body, "no access_token in the answer"))
          }
          const seconds = Number(body.expires_in ?? 1800)
          const now = yield* Clock.currentTimeMillis
          const token: CachedToken = {
            header: `Bearer ${body.access_token}`,
            expiresAt: now + (Number.isFinite(seconds) ? seconds : 1800) * 1000 - skew
          }
          return token
        })
        const cache = yield* SynchronizedRef.make(Option.none<CachedToken>())
        const header = SynchronizedRef.modifyEffect(cache, (current) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Option.isSome(current) && current.value.expiresAt > now
              ? Effect.succeed([Option.some(current.value.header), current] as const)
              : Effect.map(requestToken, (token) => [Option.some(token.header), Option.some(token)] as const)))
        const rejected = (used: string) =>
          SynchronizedRef.update(cache, (current) =>
            Option.isSome(current) && current.value.header === used ? Option.none() : current)
        return { header, rejected, refreshable: true }
      }
    }
  })
