/**
 * Mounting the API in a server: its routes, the OpenAPI document at `/api/openapi.json` and a docs
 * page at `/api/docs`, on an `HttpLayerRouter` the server shares with its other routes (RPC, the web
 * page). The composition root provides the `SqlClient`, the `SyncEngine` and `DashboardAccess`, runs
 * `DashboardMigrations.run` at startup, and serves the router.
 */
import type { Etag, FileSystem, HttpPlatform, HttpServer, Path } from "@effect/platform"
import { HttpApiScalar, HttpLayerRouter, OpenApi } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import type { SyncEngine } from "@tidemark/sync-engine"
import { Layer } from "effect"
import { DOCS_PATH, OPENAPI_PATH, TidemarkApi } from "./Api.js"
import * as Handlers from "./Handlers.js"
import type { DashboardAccess } from "./DashboardAccess.js"
import type { OverviewSnapshots } from "./OverviewSnapshots.js"
import * as Security from "./Security.js"

/** What the API's handlers and middleware need from the composition root. */
export type Requirements = SqlClient.SqlClient | SyncEngine.SyncEngine | DashboardAccess | OverviewSnapshots

/** What `HttpLayerRouter.addHttpApi` needs besides the router (all provided by `NodeHttpServer.layer`). */
export type PlatformRequirements = Etag.Generator | FileSystem.FileSystem | HttpPlatform.HttpPlatform | Path.Path

/** The OpenAPI 3.1 document of the API. */
export const openApiDocument = () => OpenApi.fromApi(TidemarkApi)

/**
 * The API's routes on the server's `HttpLayerRouter`:
 *
 * ```ts
 * HttpLayerRouter.serve(Layer.mergeAll(DashboardApi.routes, otherRoutes)).pipe(
 *   Layer.provide(NodeHttpServer.layer(createServer, { port })),
 *   Layer.provide(DashboardAccess.layer(tokens)), // plus SqlClient and SyncEngine
 * )
 * ```
 *
 * Requires `HttpLayerRouter.HttpRouter` and what `NodeHttpServer.layer` provides (`HttpPlatform`,
 * `Etag.Generator`, `FileSystem`, `Path`), plus `SqlClient`, `SyncEngine` and `DashboardAccess`.
 */
export const routes: Layer.Layer<never, never, HttpLayerRouter.HttpRouter | PlatformRequirements | Requirements> = Layer
  .mergeAll(
  HttpLayerRouter.addHttpApi(TidemarkApi, { openapiPath: OPENAPI_PATH }),
  HttpApiScalar.layerHttpLayerRouter({ api: TidemarkApi, path: DOCS_PATH })
).pipe(
  Layer.provide(Handlers.layer),
  Layer.provide(Security.layer)
)

/**
 * `routes` served on an `HttpServer` (the server's own router, logger on): the whole HTTP side of a
 * process that serves nothing else.
 */
export const serve: Layer.Layer<never, never, HttpServer.HttpServer | PlatformRequirements | Requirements> =
  HttpLayerRouter.serve(routes)
