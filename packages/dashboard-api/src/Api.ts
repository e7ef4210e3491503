/**
 * The Tidemark HTTP API: the dashboard overview, incidents, changes and events with their risk and
 * impact, and the admin endpoints that start syncs. Every endpoint reads the local cache only and is
 * scoped to the org of its bearer token.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { DependencyGraph } from "@tidemark/adapter-core"
import { SyncRun } from "@tidemark/sync-engine"
import { Schema } from "effect"
import { Conflict, InvalidRequest, NotFound } from "./ApiErrors.js"
import { BooleanFromString, Cursor, IntFromString, IsoDateTime, Limit, SysId } from "./ListParams.js"
import {
  Change,
  ChangeImpact,
  ChangePage,
  EventPage,
  Incident,
  IncidentPage,
  IncidentRisk,
  Overview
} from "./Models.js"
import { AdminAuthentication, Authentication } from "./Security.js"

const AsOf = Schema.Struct({
  asOf: Schema.optional(IsoDateTime.annotations({
    description: "The time the time windows (last/next 24 h, SLA age) are measured from; default now"
  }))
})

const RecordId = Schema.Struct({
  id: Schema.String.annotations({ description: "sys_id, or display number (INC0001234, CHG0000042)" })
})

const Paging = {
  limit: Schema.optional(Limit),
  cursor: Schema.optional(Cursor)
}

export class DashboardGroup extends HttpApiGroup.make("dashboard")
  .add(
    HttpApiEndpoint.get("overview", "/dashboard/overview")
      .setUrlParams(AsOf)
      .addSuccess(Overview)
      .annotate(OpenApi.Summary, "Open incidents, past SLA, upcoming changes, recent events and sync freshness")
  )
  .middleware(Authentication)
  .prefix("/api/v1")
{}

export class IncidentsGroup extends HttpApiGroup.make("incidents")
  .add(
    HttpApiEndpoint.get("list", "/incidents")
      .setUrlParams(Schema.Struct({
        state: Schema.optional(IntFromString),
        priority: Schema.optional(IntFromString.pipe(Schema.between(1, 5, { message: () => "priority must be 1-5" }))),
        cmdb_ci: Schema.optional(SysId),
        assignment_group: Schema.optional(SysId),
        open: Schema.optional(BooleanFromString),
        updated_since: Schema.optional(IsoDateTime),
        ...Paging
      }))
      .addSuccess(IncidentPage)
      .annotate(OpenApi.Summary, "Incidents, newest update first, with cursor pagination")
  )
  .add(
    HttpApiEndpoint.get("get", "/incidents/:id")
      .setPath(RecordId)
      .addSuccess(Incident)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One incident by sys_id or number")
  )
  .add(
    HttpApiEndpoint.get("risk", "/incidents/:id/risk")
      .setPath(RecordId)
      .setUrlParams(AsOf)
      .addSuccess(IncidentRisk)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "Risk score 0-100 with every factor, its points and its evidence")
  )
  .middleware(Authentication)
  .prefix("/api/v1")
{}

export class ChangesGroup extends HttpApiGroup.make("changes")
  .add(
    HttpApiEndpoint.get("list", "/changes")
      .setUrlParams(Schema.Struct({
        state: Schema.optional(IntFromString),
        risk: Schema.optional(IntFromString),
        type: Schema.optional(Schema.String),
        cmdb_ci: Schema.optional(SysId),
        assignment_group: Schema.optional(SysId),
        active: Schema.optional(BooleanFromString.annotations({ description: "true: not Closed or Canceled" })),
        start_from: Schema.optional(IsoDateTime),
        start_to: Schema.optional(IsoDateTime),
        updated_since: Schema.optional(IsoDateTime),
        ...Paging
      }))
      .addSuccess(ChangePage)
      .annotate(OpenApi.Summary, "Change requests, newest update first, with cursor pagination")
  )
  .add(
    HttpApiEndpoint.get("get", "/changes/:id")
      .setPath(RecordId)
      .addSuccess(Change)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One change by sys_id or number")
  )
  .add(
    HttpApiEndpoint.get("impact", "/changes/:id/impact")
      .setPath(RecordId)
      .setUrlParams(AsOf)
      .addSuccess(ChangeImpact)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "The item's open incidents, recent events, dependants and colliding changes")
  )
  .add(
    HttpApiEndpoint.get("events", "/events")
      .setUrlParams(Schema.Struct({
        severity: Schema.optional(IntFromString.pipe(Schema.between(0, 5, { message: () => "severity must be 0-5" }))),
        cmdb_ci: Schema.optional(SysId),
        since: Schema.optional(IsoDateTime.annotations({ description: "time_of_event at or after" })),
        ...Paging
      }))
      .addSuccess(EventPage)
      .annotate(OpenApi.Summary, "Events, newest update first, with cursor pagination")
  )
  .middleware(Authentication)
  .prefix("/api/v1")
{}

export const StartSyncRequest = Schema.Struct({
  syncType: SyncRun.SyncType,
  entities: Schema.optional(Schema.Array(Schema.String)),
  runId: Schema.optional(Schema.String)
}).annotations({ identifier: "StartSyncRequest" })

export const Graph = Schema.Struct({
  adapter: Schema.String,
  levels: Schema.Array(Schema.Array(Schema.String)),
  graph: DependencyGraph.DependencyGraphJson,
  mermaid: Schema.String
}).annotations({ identifier: "SyncGraph" })

const RunsParams = Schema.Struct({
  status: Schema.optional(SyncRun.RunStatus),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500)))
})

const Run = SyncRun.Run.annotations({ identifier: "Run" })

export class AdminGroup extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.post("syncEntity", "/admin/sync/:entity")
      .setPath(Schema.Struct({ entity: Schema.String }))
      .setUrlParams(Schema.Struct({
        syncType: Schema.optional(SyncRun.SyncType.annotations({ description: "default delta" })),
        runId: Schema.optional(Schema.String)
      }))
      .addSuccess(Run)
      .addError(NotFound)
      .addError(InvalidRequest)
      .addError(Conflict)
      .annotate(OpenApi.Summary, "Start a sync of one entity (its hard parents are pulled in)")
  )
  .add(
    HttpApiEndpoint.post("sync", "/admin/sync")
      .setPayload(StartSyncRequest)
      .addSuccess(Run)
      .addError(InvalidRequest)
      .addError(Conflict)
      .annotate(OpenApi.Summary, "Start a sync run of the org")
  )
  .add(
    HttpApiEndpoint.get("runs", "/admin/runs")
      .setUrlParams(RunsParams)
      .addSuccess(Schema.Array(Run))
      .annotate(OpenApi.Summary, "The org's runs, newest first")
  )
  .add(
    HttpApiEndpoint.get("run", "/admin/runs/:id")
      .setPath(Schema.Struct({ id: Schema.String }))
      .addSuccess(Run)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One run with its entity runs")
  )
  .add(
    HttpApiEndpoint.get("graph", "/admin/graph")
      .addSuccess(Graph)
      .annotate(OpenApi.Summary, "The sync plan: dependency graph, levels and Mermaid text")
  )
  .middleware(AdminAuthentication)
  .prefix("/api/v1")
{}

export class TidemarkApi extends HttpApi.make("Tidemark")
  .add(DashboardGroup)
  .add(IncidentsGroup)
  .add(ChangesGroup)
  .add(AdminGroup)
  // Any endpoint may refuse a cursor it did not issue.
  .addError(InvalidRequest)
  .annotateContext(OpenApi.annotations({
    title: "Tidemark",
    version: "1",
    description: "A local, always-fresh mirror of an ITSM instance: dashboard reads in milliseconds. " +
      "Every endpoint needs a bearer token; the token's org scopes every answer."
  }))
{}

/** Path of the OpenAPI document and of the docs page, as `mount` serves them. */
export const OPENAPI_PATH = "/api/openapi.json"
export const DOCS_PATH = "/api/docs"
