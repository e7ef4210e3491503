/**
 * The errors the dashboard API answers with. Every body has the same shape: `_tag`, a `message` a
 * person can read, and the fields a client can act on (the field that was wrong, the id not found).
 * Request-schema failures keep `@effect/platform`'s `HttpApiDecodeError`, whose `issues[].path` and
 * `message` already name the offending field.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/** No bearer token, or one that is not configured: 401. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  {
    reason: Schema.Literal("missing_token", "unknown_token"),
    message: Schema.String
  },
  HttpApiSchema.annotations({ status: 401, description: "No valid bearer token" })
) {}

/** A valid token that does not grant the org or the scope the request needs: 403. */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  {
    /** The scope the endpoint needs, or `org` when the org is what was refused. */
    required: Schema.String,
    message: Schema.String
  },
  HttpApiSchema.annotations({ status: 403, description: "The token does not grant this org or scope" })
) {}

/** An id (or a name in the path) that names nothing in the caller's org: 404. */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  {
    resource: Schema.String,
    id: Schema.String,
    message: Schema.String
  },
  HttpApiSchema.annotations({ status: 404, description: "Nothing with this id in the caller's org" })
) {}

/**
 * A request value that passed its schema but still cannot be used (an opaque cursor that is not one
 * of ours, a run request the engine refuses): 400, naming the field.
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()(
  "InvalidRequest",
  {
    field: Schema.String,
    message: Schema.String
  },
  HttpApiSchema.annotations({ status: 400, description: "A request field that cannot be used" })
) {}

/** The engine refused to start a run because another one covers the same entities, or the run id is taken: 409. */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  {
    reason: Schema.Literal("run_active", "run_id_reused"),
    runId: Schema.String,
    entities: Schema.Array(Schema.String),
    message: Schema.String
  },
  HttpApiSchema.annotations({ status: 409, description: "Another run is active, or the run id names another run" })
) {}

export const notFound = (resource: string, id: string) =>
  new NotFound({ resource, id, message: `no ${resource} ${JSON.stringify(id)} in this org` })
