/**
 * The ITSM simulator: a ServiceNow-style Table API over deterministic, seeded data, with
 * OAuth, rate limits, latency, injected faults, mutations, webhooks and a ground-truth dump.
 */
export * as ItsmSimulator from "./ItsmSimulator.js"
export type { SimulatorHandle, SimulatorOptions, Truth } from "./ItsmSimulator.js"
export type { Credentials, AuthMode } from "./Auth.js"
export type { InvalidRequest, LatencyConfig, StreamConfig, WebhookConfig } from "./Core.js"
export { SimulatorRequestError, SimulatorStartError, WebhookDeliveryError } from "./Errors.js"
export type { FaultKind, FaultRule } from "./Faults.js"
export type { ChangeEvent, MutationRequest, MutationResult } from "./Mutations.js"
export type { RequestLogEntry, StatsSnapshot } from "./RequestLog.js"
export { SCALES, type ScaleName, type TableCounts, type DataTableName } from "./Scale.js"
export { TABLE_NAMES, type TableName } from "./tables/TableSpec.js"
export { formatDateTime, parseDateTime } from "./Time.js"
export type { TruthSnapshot } from "./Truth.js"
export { SIGNATURE_HEADER, sign as signWebhookBody } from "./Webhooks.js"
export * as SimulatorProcess from "./SimulatorProcess.js"
