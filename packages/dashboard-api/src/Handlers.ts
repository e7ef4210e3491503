/**
 * The implementations of the API's groups. Reads go to the cache through the query modules; admin
 * endpoints go to the `SyncEngine`. The org is always the one of the request's token.
 */
import { HttpApiBuilder } from "@effect/platform"
import { TableApiAdapter } from "@tidemark/itsm-adapter"
import { SyncEngine, SyncRun } from "@tidemark/sync-engine"
import { Clock, Effect, Layer, Option, ParseResult, Schema } from "effect"
import { TidemarkApi } from "./Api.js"
import { Conflict, InvalidRequest, type NotFound, notFound } from "./ApiErrors.js"
import { CurrentAccess } from "./DashboardAccess.js"
import { findChange, findIncident } from "./Details.js"
import { impactOf } from "./Impact.js"
import * as Lists from "./Lists.js"
import { overview } from "./Overview.js"
import { OverviewSnapshots } from "./OverviewSnapshots.js"
import { toChange, toIncident } from "./Records.js"
import { riskOf } from "./Risk.js"

const ADAPTER = TableApiAdapter.ADAPTER_NAME

const asOfOrNow = (asOf: Date | undefined) =>
  asOf === undefined ? Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis)) : Effect.succeed(asOf)

/** The org of the request's token. */
const currentOrg = Effect.map(CurrentAccess, (access) => access.orgId)

/**
 * A database failure is the server's problem, not the caller's: it becomes a defect (a 500 without
 * detail for the client; the cause is logged by the server).
 */
const orDie = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    effect,
    (e): e is Extract<E, { readonly _tag: "SqlError" }> =>
      typeof e === "object" && e !== null && "_tag" in e && e._tag === "SqlError",
    Effect.die
  )

const orNotFound = (resource: string, id: string) => <A>(option: Option.Option<A>) =>
  Option.match(option, { onNone: () => Effect.fail(notFound(resource, id)), onSome: Effect.succeed })

export const DashboardLive = HttpApiBuilder.group(TidemarkApi, "dashboard", (handlers) =>
  handlers.handle("overview", ({ urlParams }) =>
    Effect.gen(function*() {
      const orgId = yield* currentOrg
      // Now: the org's snapshot (shared, refreshed on change); a given time: computed for it.
      if (urlParams.asOf === undefined) {
        const snapshots = yield* OverviewSnapshots
        return (yield* orDie(snapshots.get(orgId))).overview
      }
      return yield* orDie(overview(orgId, urlParams.asOf))
    })))

export const IncidentsLive = HttpApiBuilder.group(TidemarkApi, "incidents", (handlers) =>
  handlers
    .handle("list", ({ urlParams }) => Effect.flatMap(currentOrg, (orgId) => orDie(Lists.incidents(orgId, urlParams))))
    .handle("get", ({ path }) =>
      Effect.flatMap(currentOrg, (orgId) =>
        orDie(findIncident(orgId, path.id)).pipe(
          Effect.flatMap(orNotFound("incident", path.id)),
          Effect.map(toIncident)
        )))
    .handle("risk", ({ path, urlParams }) =>
      Effect.gen(function*() {
        const orgId = yield* currentOrg
        const asOf = yield* asOfOrNow(urlParams.asOf)
        return yield* orDie(riskOf(orgId, path.id, asOf)).pipe(Effect.flatMap(orNotFound("incident", path.id)))
      })))

export const ChangesLive = HttpApiBuilder.group(TidemarkApi, "changes", (handlers) =>
  handlers
    .handle("list", ({ urlParams }) => Effect.flatMap(currentOrg, (orgId) => orDie(Lists.changes(orgId, urlParams))))
    .handle("get", ({ path }) =>
      Effect.flatMap(currentOrg, (orgId) =>
        orDie(findChange(orgId, path.id)).pipe(
          Effect.flatMap(orNotFound("change", path.id)),
          Effect.map(toChange)
        )))
    .handle("impact", ({ path, urlParams }) =>
      Effect.gen(function*() {
        const orgId = yield* currentOrg
        const asOf = yield* asOfOrNow(urlParams.asOf)
        return yield* orDie(impactOf(orgId, path.id, asOf)).pipe(Effect.flatMap(orNotFound("change", path.id)))
      }))
    .handle("events", ({ urlParams }) => Effect.flatMap(currentOrg, (orgId) => orDie(Lists.events(orgId, urlParams)))))

/** The engine's refusals as API errors. */
const fromStartRunError = (error: SyncEngine.StartRunError): Effect.Effect<never, InvalidRequest | Conflict> => {
  switch (error._tag) {
    case "InvalidRunRequestError":
      return Effect.fail(new InvalidRequest({ field: error.field, message: error.message }))
    case "RunConflictError":
      return Effect.fail(
        new Conflict({
          reason: "run_active",
          runId: error.activeRunId,
          entities: error.entities,
          message: error.message
        })
      )
    case "RunIdReusedError":
      return Effect.fail(
        new Conflict({ reason: "run_id_reused", runId: error.runId, entities: [], message: error.message })
      )
  }
}

/** The engine's request, decoded so that a bad run id or entity name is a 400 naming its field. */
const startRequest = (orgId: string, fields: {
  readonly syncType: SyncRun.SyncType
  readonly entities?: ReadonlyArray<string> | undefined
  readonly runId?: string | undefined
}) =>
  Schema.decodeUnknown(SyncRun.StartRunRequest)({ orgId, adapter: ADAPTER, ...fields }).pipe(
    Effect.mapError((error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      return new InvalidRequest({
        field: issue === undefined ? "request" : issue.path.map(String).join("."),
        message: issue?.message ?? error.message
      })
    })
  )

export const AdminLive = HttpApiBuilder.group(TidemarkApi, "admin", (handlers) =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine.SyncEngine
    return handlers
      .handle("syncEntity", ({ path, urlParams }) =>
        Effect.gen(function*() {
          const orgId = yield* currentOrg
          const request = yield* startRequest(orgId, {
            syncType: urlParams.syncType ?? "delta",
            entities: [path.entity],
            runId: urlParams.runId
          })
          return yield* engine.startRun(request).pipe(
            Effect.catchAll((error): Effect.Effect<never, NotFound | InvalidRequest | Conflict> =>
              // The entity is a path segment: one the manifest does not know names nothing.
              error._tag === "InvalidRunRequestError" && error.field === "entities"
                ? Effect.fail(notFound("entity", path.entity))
                : fromStartRunError(error)
            )
          )
        }))
      .handle("sync", ({ payload }) =>
        Effect.gen(function*() {
          const orgId = yield* currentOrg
          const request = yield* startRequest(orgId, payload)
          return yield* engine.startRun(request).pipe(Effect.catchAll(fromStartRunError))
        }))
      .handle("runs", ({ urlParams }) =>
        Effect.flatMap(currentOrg, (orgId) =>
          engine.listRuns({ orgId, status: urlParams.status, limit: urlParams.limit })))
      .handle("run", ({ path }) =>
        Effect.gen(function*() {
          const orgId = yield* currentOrg
          const run = yield* engine.getRun(path.id).pipe(Effect.option)
          // Another org's run is as absent as a run that never was.
          return yield* Option.match(Option.filter(run, (r) => r.orgId === orgId), {
            onNone: () => Effect.fail(notFound("run", path.id)),
            onSome: Effect.succeed
          })
        }))
      .handle("graph", () => engine.plan(ADAPTER).pipe(Effect.orDie))
  }))

/** Every group's implementation. Needs the `SqlClient`, the `SyncEngine` and `DashboardAccess` (for the middleware). */
export const layer = Layer.mergeAll(DashboardLive, IncidentsLive, ChangesLive, AdminLive)
