import { Schema } from "effect"

/**
 * A request the simulator refuses, carrying what its HTTP answer carries: the status and the
 * ServiceNow error body `{"error": {"message", "detail"}, "status": "failure"}`.
 */
export class SimulatorRequestError extends Schema.TaggedError<SimulatorRequestError>()("SimulatorRequestError", {
  status: Schema.Number,
  message: Schema.String,
  detail: Schema.NullOr(Schema.String)
}) {}

export const badRequest = (message: string, detail: string | null = null): SimulatorRequestError =>
  new SimulatorRequestError({ status: 400, message, detail })

export const notFound = (message: string, detail: string | null = null): SimulatorRequestError =>
  new SimulatorRequestError({ status: 404, message, detail })

/** The simulator's HTTP server could not listen (port taken, address unavailable). */
export class SimulatorStartError extends Schema.TaggedError<SimulatorStartError>()("SimulatorStartError", {
  host: Schema.String,
  port: Schema.Number,
  cause: Schema.Defect
}) {}

/** A webhook POST that failed (network error, timeout or a non-2xx answer). */
export class WebhookDeliveryError extends Schema.TaggedError<WebhookDeliveryError>()("WebhookDeliveryError", {
  url: Schema.String,
  status: Schema.NullOr(Schema.Number),
  cause: Schema.Defect
}) {}
