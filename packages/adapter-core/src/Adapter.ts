/**
 * What the engine asks of a source, whatever the source is. An adapter turns these calls into the
 * source's own protocol (ServiceNow encoded queries, a CRM's filters, ...), validates and transforms
 * each record, and reports bad records as values instead of failing the page.
 */
import type { Duration, Effect, Option, Stream } from "effect"
import { Schema } from "effect"
import type { EntityManifest } from "./Manifest.js"
import type { InvalidRecord, SourceError } from "./SourceError.js"

/**
 * A place in an entity's (cursor, key) order: the last record a page delivered. The next page holds
 * the records strictly after it, so many records sharing one cursor value are never skipped.
 */
export const Position = Schema.Struct({
  cursor: Schema.Date,
  key: Schema.String
})
export type Position = typeof Position.Type

/** A record that passed validation and transform. */
export interface SourceRecord<Row = Record<string, unknown>> {
  readonly key: string
  /** The source's modification time; undefined for entities without a cursor. */
  readonly cursor: Date | undefined
  readonly row: Row
  /** The record exactly as the source sent it (kept as `jsonb` in the cache). */
  readonly raw: unknown
}

export interface Page<Row = Record<string, unknown>> {
  readonly entity: string
  readonly records: ReadonlyArray<SourceRecord<Row>>
  readonly invalid: ReadonlyArray<InvalidRecord>
  /** Position of the last record of the page (valid or not); none for an empty page. */
  readonly last: Option.Option<Position>
  /** False when this page was the last one. */
  readonly hasMore: boolean
}

export interface PageRequest {
  readonly entity: string
  /** Deliver records strictly after this position; none: from the beginning. */
  readonly after: Option.Option<Position>
  /**
   * Step back this far from `after` (dropping its key), to catch late commits and clock skew at the
   * source: used for the first page of a delta. Default: none.
   */
  readonly lookback?: Duration.DurationInput
  /**
   * Only records with a cursor at or before this time: a partition's upper bound, so that several
   * keyset streams can read disjoint time ranges of one entity in parallel. Default: no bound.
   */
  readonly until?: Date
  readonly limit: number
}

export interface KeyAndCursor {
  readonly key: string
  readonly cursor: Date | undefined
}

export interface Deletion {
  readonly entity: string
  readonly key: string
  readonly deletedAt: Date
}

export interface Adapter {
  readonly name: string
  readonly org: string
  readonly manifest: EntityManifest
  /**
   * The finest step of the source's cursor (ServiceNow: whole seconds). Partition bounds of a full
   * sync are multiples of it, so that consecutive ranges neither overlap nor leave a gap.
   */
  readonly cursorResolutionMillis: number
  /** One page in (cursor, key) order after a position. */
  readonly fetchPage: (request: PageRequest) => Effect.Effect<Page, SourceError>
  /** Every key with its cursor, in key order, in pages of `pageSize`: for reconciliation. */
  readonly streamKeys: (entity: string, pageSize?: number) => Stream.Stream<KeyAndCursor, SourceError>
  /** The current version of the records with these keys (missing keys are simply absent). */
  readonly fetchByKeys: (entity: string, keys: ReadonlyArray<string>) => Effect.Effect<Page, SourceError>
  /** Deletions the source's audit feed reports at or after `since`, oldest first. */
  readonly deletionsSince: (entity: string, since: Date) => Stream.Stream<Deletion, SourceError>
  /** The greatest cursor the source holds for the entity now (a full sync's high-water mark T0). */
  readonly highWater: (entity: string) => Effect.Effect<Option.Option<Date>, SourceError>
  /** The smallest cursor the source holds for the entity (where partitions of a full sync start). */
  readonly lowWater: (entity: string) => Effect.Effect<Option.Option<Date>, SourceError>
  /**
   * Optional: `lowWater` and how many records the entity holds, in one request, so that a full sync
   * can size its partitions (none: the source did not say). Without it a full sync splits by time only.
   */
  readonly lowWaterAndCount?: (
    entity: string
  ) => Effect.Effect<{ readonly lowWater: Option.Option<Date>; readonly count: Option.Option<number> }, SourceError>
  /**
   * Optional: the cursor of the record at each offset of the entity's (cursor, key) order, none past
   * the end; one request per offset, all at once. A full sync cuts its partitions there, so that they
   * hold as many records each however unevenly the records spread over time.
   */
  readonly cursorsAt?: (
    entity: string,
    offsets: ReadonlyArray<number>
  ) => Effect.Effect<ReadonlyArray<Option.Option<Date>>, SourceError>
}
