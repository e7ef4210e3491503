/**
 * The bearer-token middlewares of the API: `Authentication` for the read endpoints and
 * `AdminAuthentication` for the admin group, both resolving the request's org through
 * `DashboardAccess` and providing it as `CurrentAccess`.
 */
import { HttpApiMiddleware, HttpApiSecurity, HttpServerRequest, OpenApi } from "@effect/platform"
import { Effect, Layer, Option, Schema } from "effect"
import { Forbidden, Unauthorized } from "./ApiErrors.js"
import { CurrentAccess, DashboardAccess, ORG_HEADER, requireScope } from "./DashboardAccess.js"

const bearer = HttpApiSecurity.bearer.pipe(
  HttpApiSecurity.annotate(
    OpenApi.Description,
    "A token configured for the server (TIDEMARK_API_TOKENS). A token granting several orgs names the one " +
      "it means in the X-Tidemark-Org header."
  )
)

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Authentication", {
  failure: Schema.Union(Unauthorized, Forbidden),
  provides: CurrentAccess,
  security: { bearer }
}) {}

export class AdminAuthentication extends HttpApiMiddleware.Tag<AdminAuthentication>()("AdminAuthentication", {
  failure: Schema.Union(Unauthorized, Forbidden),
  provides: CurrentAccess,
  security: { bearer }
}) {}

const authenticate = (token: Parameters<DashboardAccess["Type"]["authenticate"]>[0]) =>
  Effect.gen(function*() {
    const access = yield* DashboardAccess
    const request = yield* HttpServerRequest.HttpServerRequest
    const org = Option.fromNullable(request.headers[ORG_HEADER]).pipe(Option.filter((value) => value !== ""))
    return yield* access.authenticate(token, org)
  })

export const layer = Layer.mergeAll(
  Layer.effect(
    Authentication,
    Effect.map(DashboardAccess, (access) =>
      Authentication.of({
        bearer: (token) => authenticate(token).pipe(Effect.provideService(DashboardAccess, access))
      }))
  ),
  Layer.effect(
    AdminAuthentication,
    Effect.map(DashboardAccess, (access) =>
      AdminAuthentication.of({
        bearer: (token) =>
          authenticate(token).pipe(
            Effect.tap((current) => requireScope(current, "admin")),
            Effect.provideService(DashboardAccess, access)
          )
      }))
  )
)
