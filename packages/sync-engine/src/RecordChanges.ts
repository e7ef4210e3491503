/**
 * Single-record changes pushed by a source (webhooks), applied through the same sink as pages: the
 * same last-write-wins guard and change log. Each record is a cluster entity, so the changes of one
 * record are applied one at a time and in arrival order, whichever node received them.
 */
import { ClusterSchema, Entity } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import type { Adapter } from "@tidemark/adapter-core"
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import { AdapterRegistry } from "./AdapterRegistry.js"
import * as PageSink from "./PageSink.js"

export const RecordChange = Schema.Union(
  Schema.TaggedStruct("Upsert", { raw: Schema.Unknown }),
  Schema.TaggedStruct("Delete", { deletedAt: Schema.Date })
)
export type RecordChange = typeof RecordChange.Type

export class ApplyChangeRequest extends Schema.Class<ApplyChangeRequest>("ApplyChangeRequest")({
  orgId: Schema.String,
  adapter: Schema.String,
  entity: Schema.String,
  key: Schema.String,
  change: RecordChange
}) {}

export const ApplyChangeResult = Schema.Struct({
  outcome: Schema.Literal("inserted", "updated", "unchanged", "deleted", "not-present")
})
export type ApplyChangeResult = typeof ApplyChangeResult.Type

/** The change cannot be applied: unknown adapter or entity, or a record that does not decode. */
export class InvalidChangeError extends Schema.TaggedError<InvalidChangeError>()("InvalidChangeError", {
  entity: Schema.String,
  key: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.entity} ${this.key}: ${this.reason}`
  }
}

export const RecordEntity = Entity.make("TidemarkRecord", [
  Rpc.make("Apply", { payload: ApplyChangeRequest, success: ApplyChangeResult, error: InvalidChangeError })
]).annotate(ClusterSchema.Persisted, true)

const entityId = (request: ApplyChangeRequest) =>
  `${request.orgId}/${request.adapter}/${request.entity}/${request.key}`

const invalid = (request: ApplyChangeRequest, reason: string) =>
  new InvalidChangeError({ entity: request.entity, key: request.key, reason })

const apply = (request: ApplyChangeRequest) =>
  Effect.gen(function*() {
    const registry = yield* AdapterRegistry
    const adapter = yield* registry.get(request.orgId, request.adapter).pipe(
      Effect.mapError((e) => invalid(request, e.message))
    )
    const definition = adapter.manifest.byName.get(request.entity)
    if (definition === undefined) {
      return yield* invalid(request, `no entity "${request.entity}" in adapter ${request.adapter}`)
    }
    if (request.change._tag === "Delete") {
      const deleted = yield* PageSink.applyDeletions({
        orgId: request.orgId,
        adapter: request.adapter,
        runId: "webhook",
        entity: definition,
        deletions: [{ key: request.key, deletedAt: request.change.deletedAt }]
      }).pipe(Effect.orDie)
      return { outcome: deleted > 0 ? "deleted" : "not-present" } as const
    }
    const raw = request.change.raw
    const decoded = Schema.decodeUnknownEither(definition.apiSchema)(raw)
    if (Either.isLeft(decoded)) {
      return yield* invalid(request, ParseResult.TreeFormatter.formatErrorSync(decoded.left))
    }
    const row = definition.transform(decoded.right)
    if (Either.isLeft(row)) return yield* invalid(request, row.left)
    const key = row.right[definition.key]
    if (key !== request.key) return yield* invalid(request, `the record's key is ${String(key)}, not ${request.key}`)
    const cursor = definition.cursor === undefined ? undefined : row.right[definition.cursor]
    const record: Adapter.SourceRecord = {
      key: request.key,
      cursor: cursor instanceof Date ? cursor : undefined,
      row: row.right,
      raw
    }
    const counts = yield* PageSink.upsert({
      orgId: request.orgId,
      adapter: request.adapter,
      runId: Option.none(),
      entity: definition,
      records: [record]
    }).pipe(Effect.orDie)
    return { outcome: counts.inserted > 0 ? "inserted" : counts.updated > 0 ? "updated" : "unchanged" } as const
  })

/** Hosts the record entities on this node: register it on every node. */
export const layer = RecordEntity.toLayer(Effect.gen(function*() {
  const context = yield* Effect.context<AdapterRegistry | PageSink.SinkContext>()
  return {
    Apply: (envelope) => apply(envelope.payload).pipe(Effect.provide(context))
  }
}))

/** Sends a change to its record's entity (on whichever node owns it) and waits for the outcome. */
export const applyChange = (request: ApplyChangeRequest) =>
  Effect.flatMap(RecordEntity.client, (client) =>
    client(entityId(request)).Apply(request).pipe(
      Effect.catchTags({
        MailboxFull: (e) => Effect.die(e),
        AlreadyProcessingMessage: (e) => Effect.die(e),
        PersistenceError: (e) => Effect.die(e)
      })
    ))

