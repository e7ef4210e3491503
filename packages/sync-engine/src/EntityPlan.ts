/**
 * How an entity run reads its source: the plan its start step journals (mode, water marks, the
 * cursor ranges its partitions read) and the preparation of a page (fetch, and the hard parents its
 * records reference that the cache lacks). Shared by the entity workflow, which runs them in its
 * activities, and the level lookahead, which runs them early for the next level of a run.
 */
import { Adapter, type SourceError } from "@tidemark/adapter-core"
import { Array as Arr, Effect, Fiber, Option, Schema } from "effect"
import { AdapterRegistry, type UnknownAdapterError } from "./AdapterRegistry.js"
import { EngineConfig } from "./EngineConfig.js"
import type { PageParents, PreparedPage, PrepareError } from "./PagePrefetch.js"
import * as PageSink from "./PageSink.js"
import { SyncType } from "./SyncRun.js"
import * as Watermarks from "./Watermarks.js"

export const EntitySyncPayload = {
  runId: Schema.String,
  orgId: Schema.String,
  adapter: Schema.String,
  entity: Schema.String,
  syncType: SyncType
}

export type Payload = Schema.Struct.Type<typeof EntitySyncPayload>

/** A cursor range of an entity read as its own keyset stream: (after, until]. */
export const Partition = Schema.Struct({
  after: Schema.Option(Adapter.Position),
  until: Schema.Option(Schema.Date)
})
export type Partition = typeof Partition.Type

export const Plan = Schema.Struct({
  partitions: Schema.Array(Partition),
  /** Whether the first page steps back by the lookback (delta from a watermark). */
  lookback: Schema.Boolean,
  highWater: Schema.Option(Schema.Date),
  watermarkBefore: Schema.Option(Schema.Date),
  mode: Schema.Literal("full", "delta", "reconciliation")
})
export type Plan = typeof Plan.Type

/**
 * Splits [low, high] into `count` ranges on steps of the source's cursor resolution: a range's lower
 * bound is one step past the previous range's upper bound, so none overlap and none leave a gap. The
 * first range has no lower bound and the last no upper bound, so together they cover everything,
 * including records changed while we read.
 */
export const partitionsOf = (
  low: Option.Option<Date>,
  high: Option.Option<Date>,
  count: number,
  resolutionMillis = 1000
): ReadonlyArray<Partition> => {
  const whole = [{ after: Option.none(), until: Option.none() }] as const
  if (count <= 1 || Option.isNone(low) || Option.isNone(high)) return whole
  const step = Math.max(1, resolutionMillis)
  const lo = Math.floor(low.value.getTime() / step)
  const hi = Math.floor(high.value.getTime() / step)
  const span = hi - lo
  if (span < count) return whole
  const bounds = Array.from({ length: count - 1 }, (_, i) => lo + Math.floor((span * (i + 1)) / count))
  return Array.from({ length: count }, (_, i): Partition => ({
    after: i === 0 ? Option.none() : Option.some({ cursor: new Date((bounds[i - 1]! + 1) * step), key: "" }),
    until: i === count - 1 ? Option.none() : Option.some(new Date(bounds[i]! * step))
  }))
}

/**
 * Partitions cut where the given cursors fall (each cut: the last cursor step of one partition), in
 * steps of the source's cursor resolution; cuts that do not move forward are dropped (records
 * sharing a cursor cannot be told apart by a range). Together they cover everything, as
 * `partitionsOf`'s do.
 */
export const partitionsAt = (cuts: ReadonlyArray<Date>, resolutionMillis = 1000): ReadonlyArray<Partition> => {
  const step = Math.max(1, resolutionMillis)
  const bounds: Array<number> = []
  for (const cut of cuts) {
    const bound = Math.floor(cut.getTime() / step)
    if (bounds.length === 0 || bound > bounds[bounds.length - 1]!) bounds.push(bound)
  }
  return Array.from({ length: bounds.length + 1 }, (_, i): Partition => ({
    after: i === 0 ? Option.none() : Option.some({ cursor: new Date((bounds[i - 1]! + 1) * step), key: "" }),
    until: i === bounds.length ? Option.none() : Option.some(new Date(bounds[i]! * step))
  }))
}

/**
 * Where to cut `count` records into at most `parts` partitions of equal size, as offsets in the
 * entity's (cursor, key) order (the last record of each partition but the last). Each holds a whole
 * number of pages less one record, so that its last page comes back short and the keyset knows it is
 * done, instead of asking once more for an empty page.
 */
export const cutOffsets = (count: number, pageSize: number, parts: number): ReadonlyArray<number> => {
  const pages = Math.ceil(count / pageSize)
  const n = Math.min(parts, pages)
  if (n <= 1) return []
  const size = Math.ceil(pages / n) * pageSize - 1
  return Array.from({ length: n - 1 }, (_, i) => (i + 1) * size - 1).filter((offset) => offset < count - 1)
}

/**
 * Below this many pages per partition, records are not counted out into partitions of equal size:
 * the cut points cost a round trip and a request per partition, more than an uneven split of a few
 * pages loses at the end.
 */
const BALANCE_FROM_PAGES_PER_PARTITION = 4

/**
 * The partitions of a full sync. When the source counts its records, a small entity gets only as
 * many partitions as it has pages, and a large one partitions of equal size, cut where the source
 * says the records at those offsets are; otherwise (or when counting fails) equal time ranges.
 */
const fullPartitions = (
  adapter: Adapter.Adapter,
  config: EngineConfig["Type"],
  entity: string,
  highWater: Effect.Effect<Option.Option<Date>, SourceError.SourceError>
) =>
  Effect.gen(function*() {
    const parts = config.fullSyncPartitions
    const resolution = adapter.cursorResolutionMillis
    const counted = adapter.lowWaterAndCount
    if (parts <= 1) return partitionsOf(Option.none(), Option.none(), 1, resolution)
    if (counted === undefined) {
      const [low, high] = yield* Effect.all([adapter.lowWater(entity), highWater], { concurrency: 2 })
      return partitionsOf(low, high, parts, resolution)
    }
    const { count, lowWater } = yield* counted(entity)
    if (Option.isNone(count)) return partitionsOf(lowWater, yield* highWater, parts, resolution)
    const pages = Math.ceil(count.value / config.pageSize)
    if (pages < BALANCE_FROM_PAGES_PER_PARTITION * parts || adapter.cursorsAt === undefined) {
      return partitionsOf(lowWater, yield* highWater, Math.min(parts, pages), resolution)
    }
    const cuts = yield* adapter.cursorsAt(entity, cutOffsets(count.value, config.pageSize, parts))
    return partitionsAt(Arr.getSomes(cuts), resolution)
  })

/**
 * The plan of an entity run, without recording anything. Made earlier than the run's start (by the
 * lookahead), it is as good: the entity's watermark moves only by its own runs, and a high water
 * noted earlier only makes the next delta re-read a little more.
 */
export const plan = (
  p: Payload
): Effect.Effect<
  Plan,
  UnknownAdapterError | Watermarks.WatermarkError | SourceError.SourceError,
  AdapterRegistry | EngineConfig | PageSink.SinkContext
> =>
  Effect.gen(function*() {
    const registry = yield* AdapterRegistry
    const config = yield* EngineConfig
    const adapter = yield* registry.get(p.orgId, p.adapter)
    const mark = yield* Watermarks.get(p.orgId, p.adapter, p.entity)
    const watermark = Option.flatMap(mark, (m) => m.watermark)
    // A delta without a watermark has nothing to start from: it reads everything, as a full would.
    const mode = p.syncType === "delta" && Option.isNone(watermark) ? "full" : p.syncType
    if (mode !== "full") {
      const made: Plan = {
        partitions: [{
          after: mode === "delta" ? Option.map(watermark, (cursor) => ({ cursor, key: "" })) : Option.none(),
          until: Option.none()
        }],
        lookback: mode === "delta",
        highWater: Option.none(),
        watermarkBefore: watermark,
        mode
      }
      return made
    }
    // The high water and the partitions' first request at once: each is a round trip to a slow source.
    const highWater = yield* Effect.fork(adapter.highWater(p.entity))
    const partitions = yield* fullPartitions(adapter, config, p.entity, Fiber.join(highWater))
    const high = yield* Fiber.join(highWater)
    const made: Plan = { partitions, lookback: false, highWater: high, watermarkBefore: watermark, mode }
    return made
  })

/** The prefetch stream of a partition of an entity run. */
export const streamOf = (p: Payload, partition: number) => `${p.runId}/${p.entity}/${partition}`

/** Hard parents the page references but the cache lacks: fetched by key so the page can be stored. */
export const fetchMissingParents = (
  adapter: Adapter.Adapter,
  p: Payload,
  page: Adapter.Page
): Effect.Effect<PageParents, PrepareError, PageSink.SinkContext> =>
  Effect.gen(function*() {
    const definition = adapter.manifest.byName.get(p.entity)!
    const missing = yield* PageSink.missingHardParents({
      orgId: p.orgId,
      adapter: p.adapter,
      manifest: adapter.manifest,
      entity: definition,
      records: page.records
    })
    const found: Array<PageSink.ParentRecords> = []
    const lacking: Array<PageSink.MissingParents> = []
    for (const group of missing) {
      if (group.keys.length === 0) continue
      const fetched = yield* adapter.fetchByKeys(group.parentEntity, group.keys)
      found.push({ entity: adapter.manifest.byName.get(group.parentEntity)!, records: fetched.records })
      const present = new Set(fetched.records.map((r) => r.key))
      const absent = group.keys.filter((key) => !present.has(key))
      if (absent.length > 0) lacking.push({ ...group, keys: absent })
    }
    return { found, missing: lacking }
  })

/**
 * Prepares the page of `partition` after `position` (with the lookback: a delta's first page): its
 * fetch, then, unless `withParents` is false, its missing parents. The services are resolved now, so
 * that the effect can run in the background.
 */
export const pagePreparer = (
  p: Payload,
  partition: Partition,
  withParents = true
): Effect.Effect<
  (position: Option.Option<Adapter.Position>, withLookback: boolean) => Effect.Effect<PreparedPage, PrepareError>,
  UnknownAdapterError,
  AdapterRegistry | EngineConfig | PageSink.SinkContext
> =>
  Effect.gen(function*() {
    const registry = yield* AdapterRegistry
    const config = yield* EngineConfig
    const adapter = yield* registry.get(p.orgId, p.adapter)
    const context = yield* Effect.context<PageSink.SinkContext>()
    return (position: Option.Option<Adapter.Position>, withLookback: boolean) =>
      adapter.fetchPage({
        entity: p.entity,
        after: position,
        limit: config.pageSize,
        ...(withLookback ? { lookback: config.lookback } : {}),
        ...(Option.isSome(partition.until) ? { until: partition.until.value } : {})
      }).pipe(
        Effect.flatMap((page) =>
          withParents
            ? Effect.map(fetchMissingParents(adapter, p, page), (parents): PreparedPage => ({ page, parents: Option.some(parents) }))
            : Effect.succeed<PreparedPage>({ page, parents: Option.none() })
        ),
        Effect.provide(context)
      )
  })
