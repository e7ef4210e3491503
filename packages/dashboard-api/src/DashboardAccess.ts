/**
 * Who may read and administer which org. Tokens are configured as a map from bearer token to a grant
 * (the orgs it may see, and its scopes); every request is then scoped to exactly one org. A token
 * granting several orgs names the one it means in the `X-Tidemark-Org` header.
 */
import { Config, Context, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import { createHash } from "node:crypto"
import { Forbidden, Unauthorized } from "./ApiErrors.js"

/** `read`: every GET of the dashboard; `admin`: also the admin endpoints (which imply `read`). */
export const AccessScope = Schema.Literal("read", "admin")
export type AccessScope = typeof AccessScope.Type

export const TokenGrant = Schema.Struct({
  orgs: Schema.NonEmptyArray(Schema.String),
  /** Default `["read"]`. */
  scopes: Schema.optionalWith(Schema.Array(AccessScope), { default: () => ["read" as const] })
})
export type TokenGrant = typeof TokenGrant.Type

/**
 * token → grant, e.g. `{"s3cret": {"orgs": ["acme"], "scopes": ["read", "admin"]}}`: the shape of
 * the server's `TIDEMARK_API_TOKENS` (JSON).
 */
export const AccessConfig = Schema.Record({ key: Schema.String, value: TokenGrant })
export type AccessConfig = typeof AccessConfig.Type
/** What a caller writes: `scopes` may be left out. */
export type AccessConfigInput = typeof AccessConfig.Encoded

/** The header a multi-org token names its org in. */
export const ORG_HEADER = "x-tidemark-org"

/** What an authenticated request may do: one org, and the token's scopes. */
export interface Access {
  readonly orgId: string
  readonly scopes: ReadonlySet<AccessScope>
  /** A short, non-secret name of the token (hash prefix) for logs. */
  readonly tokenId: string
}

/** The access of the current request, provided by the authentication middleware. */
export class CurrentAccess extends Context.Tag("@tidemark/dashboard-api/CurrentAccess")<CurrentAccess, Access>() {}

export interface DashboardAccessShape {
  /**
   * The access a bearer token gives for a request; `requestedOrg` is the `X-Tidemark-Org` header.
   * Fails with `Unauthorized` (no or unknown token) or `Forbidden` (org not granted, or ambiguous).
   */
  readonly authenticate: (
    token: Redacted.Redacted<string>,
    requestedOrg: Option.Option<string>
  ) => Effect.Effect<Access, Unauthorized | Forbidden>
  /** The same check without an effect, for request paths that answer outside Effect's HTTP stack. */
  readonly check: (token: string, requestedOrg: string | undefined) => Either.Either<Access, Unauthorized | Forbidden>
}

export class DashboardAccess extends Context.Tag("@tidemark/dashboard-api/DashboardAccess")<
  DashboardAccess,
  DashboardAccessShape
>() {}

// Tokens are kept and looked up by their SHA-256: the map holds no secret, and a lookup by hash
// leaks nothing useful through timing.
const digest = (token: string) => createHash("sha256").update(token).digest("hex")

export const make = (tokens: AccessConfig): DashboardAccessShape => {
  const grants = new Map(Object.entries(tokens).filter(([token]) => token !== "").map(([token, grant]) =>
    [digest(token), { orgs: new Set(grant.orgs), firstOrg: grant.orgs[0], scopes: new Set(grant.scopes) }] as const
  ))
  const check = (token: string, requestedOrg: string | undefined): Either.Either<Access, Unauthorized | Forbidden> => {
    const value = token.trim()
    if (value === "") {
      return Either.left(
        new Unauthorized({ reason: "missing_token", message: "an `Authorization: Bearer <token>` header is required" })
      )
    }
    const hash = digest(value)
    const grant = grants.get(hash)
    if (grant === undefined) {
      return Either.left(new Unauthorized({ reason: "unknown_token", message: "the bearer token is not valid" }))
    }
    const orgId = requestedOrg ?? (grant.orgs.size === 1 ? grant.firstOrg : "")
    if (orgId === "") {
      return Either.left(
        new Forbidden({
          required: "org",
          message: `this token grants several orgs (${[...grant.orgs].join(", ")}); ` +
            "name one in the X-Tidemark-Org header"
        })
      )
    }
    if (!grant.orgs.has(orgId)) {
      return Either.left(
        new Forbidden({ required: "org", message: `this token does not grant org ${JSON.stringify(orgId)}` })
      )
    }
    const scopes = new Set<AccessScope>(grant.scopes)
    if (scopes.has("admin")) scopes.add("read")
    return Either.right({ orgId, scopes, tokenId: hash.slice(0, 8) })
  }
  return {
    check,
    authenticate: (token, requestedOrg) => check(Redacted.value(token), Option.getOrUndefined(requestedOrg))
  }
}

/** Access from a token map (the server passes its configuration; tests their own). */
export const layer = (tokens: AccessConfigInput): Layer.Layer<DashboardAccess> =>
  Layer.succeed(DashboardAccess, make(Schema.decodeSync(AccessConfig)(tokens)))

/** Access from a JSON token map in a config variable (default `TIDEMARK_API_TOKENS`). */
export const layerConfig = (name = "TIDEMARK_API_TOKENS") =>
  Layer.effect(
    DashboardAccess,
    Effect.flatMap(Config.redacted(name), (json) =>
      Effect.map(Schema.decodeUnknown(Schema.parseJson(AccessConfig))(Redacted.value(json)), make))
  )

/** Fails with `Forbidden` unless the access has the scope. */
export const requireScope = (access: Access, scope: AccessScope): Effect.Effect<void, Forbidden> =>
  access.scopes.has(scope)
    ? Effect.void
    : Effect.fail(new Forbidden({ required: scope, message: `this endpoint needs a token with the "${scope}" scope` }))
