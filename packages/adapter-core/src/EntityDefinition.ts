/**
 * An entity, described once by its adapter: where it lives at the source, what its records look like
 * there and in the cache, how to turn one into the other, and how changes and deletions are seen.
 */
import type { Either, Schema } from "effect"
import { type FieldReference, referencesOf } from "./Reference.js"

/** How deletions of an entity become visible to the engine. */
export interface DeletionFeed {
  /** The source keeps an audit feed of deletions (ServiceNow `sys_audit_delete`), read during delta. */
  readonly auditFeed: boolean
  /** Keys can be listed in full, so reconciliation can find deletions the feed never reported. */
  readonly reconciliation: boolean
}

export interface EntityDefinition<Api, Row extends Record<string, unknown>> {
  /** Unique within a manifest; also the cache table's suffix. */
  readonly name: string
  /** Path of the collection at the source, relative to the adapter's base URL. */
  readonly endpoint: string
  /** The record as the source sends it; a record that does not decode becomes a dead letter. */
  readonly apiSchema: Schema.Schema<Api, any> // `any`: the encoded side is whatever JSON the source sends
  /** The cache row. Reference fields carry `hardRef`/`softRef` annotations. */
  readonly rowSchema: Schema.Schema<Row, any> // `any`: the encoded side is only used by the engine's SQL layer
  /** Pure and total on decoded records; a `Left` is a reason, and the record becomes a dead letter. */
  readonly transform: (record: Api) => Either.Either<Row, string>
  /** Field of the row (and of the API record) that identifies a record. */
  readonly key: string & keyof Row
  /** Field of the row holding the source's modification time; needed for delta sync. */
  readonly cursor?: string & keyof Row
  readonly deletions: DeletionFeed
}

/**
 * A definition with its types erased, as manifests hold them. `any` because `transform` is contravariant
 * in its input: no single concrete type admits every entity's record.
 */
export type AnyEntityDefinition = EntityDefinition<any, any>

export const make = <Api, Row extends Record<string, unknown>>(
  definition: EntityDefinition<Api, Row>
): EntityDefinition<Api, Row> => definition

/** The references an entity declares, derived from its row schema's annotations. */
export const references = (definition: AnyEntityDefinition): ReadonlyArray<FieldReference> =>
  referencesOf(definition.rowSchema as Schema.Schema.Any)
