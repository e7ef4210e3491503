/**
 * Every way a call to an external source can fail, each saying what failed and where. The engine
 * decides from the tag whether a page is retried later, dead-lettered or fails the entity run.
 */
import { Schema } from "effect"

/** Where a call went: which adapter, org and entity, and the request path. */
const Where = {
  adapter: Schema.String,
  org: Schema.String,
  entity: Schema.optional(Schema.String),
  method: Schema.String,
  url: Schema.String
}

const where = (e: { adapter: string; org: string; entity?: string | undefined; method: string; url: string }) =>
  `${e.adapter}/${e.org}${e.entity ? `/${e.entity}` : ""} ${e.method} ${e.url}`

/** The source did not answer in time (after retries). */
export class SourceTimeoutError extends Schema.TaggedError<SourceTimeoutError>()("SourceTimeoutError", {
  ...Where,
  timeoutMillis: Schema.Number,
  attempts: Schema.Number
}) {
  override get message() {
    return `${where(this)}: no answer within ${this.timeoutMillis} ms (${this.attempts} attempts)`
  }
}

/** The connection failed or broke mid-body (after retries). */
export class SourceTransportError extends Schema.TaggedError<SourceTransportError>()("SourceTransportError", {
  ...Where,
  reason: Schema.String,
  attempts: Schema.Number
}) {
  override get message() {
    return `${where(this)}: transport failure after ${this.attempts} attempts: ${this.reason}`
  }
}

/** The source answered with a status that retrying cannot fix, or a 5xx that persisted. */
export class SourceStatusError extends Schema.TaggedError<SourceStatusError>()("SourceStatusError", {
  ...Where,
  status: Schema.Number,
  /** The source's own error message when it sent one (ServiceNow: `error.message`). */
  sourceMessage: Schema.String,
  body: Schema.String,
  attempts: Schema.Number
}) {
  override get message() {
    return `${where(this)}: HTTP ${this.status} after ${this.attempts} attempts: ${this.sourceMessage}`
  }
}

/** The source kept answering 429 past the allowed number of waits. */
export class SourceRateLimitedError extends Schema.TaggedError<SourceRateLimitedError>()("SourceRateLimitedError", {
  ...Where,
  waits: Schema.Number,
  lastRetryAfterMillis: Schema.Number
}) {
  override get message() {
    return `${where(this)}: still rate limited after ${this.waits} waits (last Retry-After ${this.lastRetryAfterMillis} ms)`
  }
}

/** The body was not the JSON shape the protocol promises (truncated, not JSON, no `result`). */
export class SourceResponseError extends Schema.TaggedError<SourceResponseError>()("SourceResponseError", {
  ...Where,
  reason: Schema.String,
  bodyExcerpt: Schema.String,
  attempts: Schema.Number
}) {
  override get message() {
    return `${where(this)}: malformed response after ${this.attempts} attempts: ${this.reason}`
  }
}

/** Credentials were refused (token endpoint, or 401 persisting after a fresh token). */
export class SourceAuthError extends Schema.TaggedError<SourceAuthError>()("SourceAuthError", {
  adapter: Schema.String,
  org: Schema.String,
  url: Schema.String,
  status: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `${this.adapter}/${this.org}: authentication refused by ${this.url} (HTTP ${this.status}): ${this.reason}`
  }
}

export type SourceError =
  | SourceTimeoutError
  | SourceTransportError
  | SourceStatusError
  | SourceRateLimitedError
  | SourceResponseError
  | SourceAuthError

/**
 * One record that failed validation or transform: a value the engine writes to the dead-letter table,
 * never a failure of the page. Carries the raw record exactly as the source sent it.
 */
export class InvalidRecord extends Schema.TaggedError<InvalidRecord>()("InvalidRecord", {
  entity: Schema.String,
  /** The record's key when it could be read from the raw body. */
  key: Schema.NullOr(Schema.String),
  reason: Schema.String,
  raw: Schema.Unknown
}) {
  override get message() {
    return `${this.entity}${this.key ? ` ${this.key}` : ""}: invalid record: ${this.reason}`
  }
}
