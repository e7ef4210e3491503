/**
 * The cost of a dashboard request layer by layer, for `--profile`: the same overview body served by
 * ever more of the real stack, each on the Effect HTTP server of the API:
 *
 * - `/layers/bytes`: an `HttpLayerRouter` route answering precomputed bytes (the Effect HTTP server);
 * - `/layers/bytes-auth`: the same behind the bearer-token check of `DashboardAccess` (SHA-256);
 * - `/layers/api`: an `HttpApi` endpoint with the `Authentication` middleware whose handler returns an
 *   overview computed once (the HttpApi pipeline and the `Overview` schema's encoding);
 * - `/layers/api-sql1`, `/layers/api-sql6`: the same plus one `SELECT 1`, or six at once as the overview
 *   issues its six reads (the cost of a round trip through `@effect/sql-pg`, not of the query).
 */
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpLayerRouter,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option, Redacted } from "effect"
import { DashboardAccess } from "../src/DashboardAccess.js"
import { Overview } from "../src/Models.js"
import { Authentication } from "../src/Security.js"

class LayersGroup extends HttpApiGroup.make("layers")
  .add(HttpApiEndpoint.get("api", "/layers/api").addSuccess(Overview))
  .add(HttpApiEndpoint.get("sql1", "/layers/api-sql1").addSuccess(Overview))
  .add(HttpApiEndpoint.get("sql6", "/layers/api-sql6").addSuccess(Overview))
  .middleware(Authentication)
{}

class LayersApi extends HttpApi.make("layers").add(LayersGroup) {}

export const paths = {
  bytes: "/layers/bytes",
  bytesAuth: "/layers/bytes-auth",
  api: "/layers/api",
  apiSql1: "/layers/api-sql1",
  apiSql6: "/layers/api-sql6"
} as const

/**
 * The routes, to serve beside `DashboardApi.routes` (they need the same `Authentication` middleware
 * layer, `DashboardAccess` and `SqlClient`). `body` is the overview's encoded JSON, `value` the same
 * overview as its handler returns it.
 */
export const routes = (body: Uint8Array, value: typeof Overview.Type) => {
  const bytes = HttpServerResponse.uint8Array(body, { contentType: "application/json" })
  const select1 = Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.orDie(sql`SELECT 1`))
  return Layer.mergeAll(
    HttpLayerRouter.add("GET", paths.bytes, Effect.succeed(bytes)),
    Layer.unwrapEffect(Effect.map(DashboardAccess, (access) =>
      HttpLayerRouter.add(
        "GET",
        paths.bytesAuth,
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const token = (request.headers["authorization"] ?? "").replace(/^Bearer /i, "")
          const granted = yield* Effect.either(access.authenticate(Redacted.make(token), Option.none()))
          return granted._tag === "Right" ? bytes : HttpServerResponse.empty({ status: 401 })
        })
      ))),
    HttpLayerRouter.addHttpApi(LayersApi).pipe(
      Layer.provide(HttpApiBuilder.group(LayersApi, "layers", (handlers) =>
        handlers
          .handle("api", () => Effect.succeed(value))
          .handle("sql1", () => Effect.as(select1, value))
          .handle("sql6", () => Effect.as(Effect.all(Array.from({ length: 6 }, () => select1), { concurrency: "unbounded" }), value))))
    )
  )
}
