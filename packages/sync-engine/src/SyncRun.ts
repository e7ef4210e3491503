/**
 * What a run is, as every interface (engine API, RPC, HTTP, CLI) speaks of it: the request, the run
 * and its entity runs as stored, the progress events of a watched run, and the errors of the API.
 */
import { Schema } from "effect"

export const SyncType = Schema.Literal("full", "delta", "reconciliation")
export type SyncType = typeof SyncType.Type

export const RunStatus = Schema.Literal("pending", "running", "succeeded", "partial", "failed", "cancelled")
export type RunStatus = typeof RunStatus.Type

export const EntityRunStatus = Schema.Literal("pending", "running", "succeeded", "failed", "skipped", "cancelled")
export type EntityRunStatus = typeof EntityRunStatus.Type

const Identifier = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, {
    message: () => "expected 1-128 characters of letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
  })
)

/** What a caller asks for. `runId` makes the request idempotent: the same id twice is one run. */
export class StartRunRequest extends Schema.Class<StartRunRequest>("StartRunRequest")({
  orgId: Identifier,
  adapter: Identifier,
  syncType: SyncType,
  /** A subset of entities; their hard parents are pulled in. Default: every entity of the manifest. */
  entities: Schema.optional(Schema.Array(Identifier)),
  runId: Schema.optional(Identifier)
}) {}

export class EntityRun extends Schema.Class<EntityRun>("EntityRun")({
  entity: Schema.String,
  level: Schema.Number,
  status: EntityRunStatus,
  reason: Schema.NullOr(Schema.String),
  node: Schema.NullOr(Schema.String),
  pages: Schema.Number,
  records: Schema.Number,
  inserted: Schema.Number,
  updated: Schema.Number,
  unchanged: Schema.Number,
  deleted: Schema.Number,
  deadLetters: Schema.Number,
  watermarkBefore: Schema.NullOr(Schema.Date),
  watermarkAfter: Schema.NullOr(Schema.Date),
  error: Schema.NullOr(Schema.String),
  startedAt: Schema.NullOr(Schema.Date),
  finishedAt: Schema.NullOr(Schema.Date)
}) {}

export class Run extends Schema.Class<Run>("Run")({
  runId: Schema.String,
  orgId: Schema.String,
  adapter: Schema.String,
  syncType: SyncType,
  entities: Schema.NullOr(Schema.Array(Schema.String)),
  status: RunStatus,
  levels: Schema.Array(Schema.Array(Schema.String)),
  error: Schema.NullOr(Schema.String),
  requestedAt: Schema.Date,
  startedAt: Schema.NullOr(Schema.Date),
  finishedAt: Schema.NullOr(Schema.Date),
  entityRuns: Schema.Array(EntityRun)
}) {}

export const ProgressEvent = Schema.Union(
  Schema.TaggedStruct("EntityStarted", { runId: Schema.String, entity: Schema.String, node: Schema.NullOr(Schema.String) }),
  Schema.TaggedStruct("PageCommitted", {
    runId: Schema.String,
    entity: Schema.String,
    pageNo: Schema.Number,
    records: Schema.Number,
    inserted: Schema.Number,
    updated: Schema.Number,
    deadLetters: Schema.Number
  }),
  Schema.TaggedStruct("EntityFinished", {
    runId: Schema.String,
    entity: Schema.String,
    status: EntityRunStatus,
    reason: Schema.NullOr(Schema.String),
    records: Schema.Number,
    pages: Schema.Number
  }),
  Schema.TaggedStruct("RunFinished", { runId: Schema.String, status: RunStatus, error: Schema.NullOr(Schema.String) })
)
export type ProgressEvent = typeof ProgressEvent.Type

/** Another active run already covers some of the same (org, adapter, entity): runs never interleave. */
export class RunConflictError extends Schema.TaggedError<RunConflictError>()("RunConflictError", {
  orgId: Schema.String,
  adapter: Schema.String,
  activeRunId: Schema.String,
  entities: Schema.Array(Schema.String)
}) {
  override get message() {
    return `run ${this.activeRunId} is still syncing ${this.entities.join(", ")} for ${this.orgId}/${this.adapter}; ` +
      "wait for it to finish or cancel it"
  }
}

export class RunNotFoundError extends Schema.TaggedError<RunNotFoundError>()("RunNotFoundError", {
  runId: Schema.String
}) {
  override get message() {
    return `no run with id ${this.runId}`
  }
}

/** The request names something the engine does not know (adapter, entity) or is otherwise unusable. */
export class InvalidRunRequestError extends Schema.TaggedError<InvalidRunRequestError>()("InvalidRunRequestError", {
  field: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid run request: ${this.field}: ${this.reason}`
  }
}

/** The same run id was used before for a different request. */
export class RunIdReusedError extends Schema.TaggedError<RunIdReusedError>()("RunIdReusedError", {
  runId: Schema.String,
  existing: Schema.String
}) {
  override get message() {
    return `run id ${this.runId} already names another run (${this.existing})`
  }
}
