/**
 * One entity of one run, as a durable workflow: a start activity that fixes where to begin, one
 * activity per page (fetch, validate, transform, upsert, advance the cursor, all committed in one
 * transaction), and a finish activity (deletions, watermark, history). After a crash the workflow
 * resumes on any node from the last committed page; only the page in flight is fetched again.
 */
import { SqlClient } from "@effect/sql"
import { Activity, Workflow } from "@effect/workflow"
import { Adapter, type SourceError } from "@tidemark/adapter-core"
import { Chunk, Duration, Effect, Option, Schema, Stream } from "effect"
import { AdapterRegistry } from "./AdapterRegistry.js"
import * as CacheTables from "./CacheTables.js"
import { EngineConfig } from "./EngineConfig.js"
import * as PageSink from "./PageSink.js"
import { PagePrefetch } from "./PagePrefetch.js"
import * as Reconciliation from "./Reconciliation.js"
import * as RunHistory from "./RunHistory.js"
import { SyncType } from "./SyncRun.js"
import * as Watermarks from "./Watermarks.js"

export const EntitySyncPayload = {
  runId: Schema.String,
  orgId: Schema.String,
  adapter: Schema.String,
  entity: Schema.String,
  syncType: SyncType
}

export const EntityOutcome = Schema.Struct({
  entity: Schema.String,
  status: Schema.Literal("succeeded", "failed"),
  error: Schema.NullOr(Schema.String)
})
export type EntityOutcome = typeof EntityOutcome.Type

export const EntitySyncWorkflow = Workflow.make({
  name: "TidemarkEntitySync",
  payload: EntitySyncPayload,
  success: EntityOutcome,
  // The run id is part of the key: the same run never syncs an entity twice, a later run always does.
  idempotencyKey: (p) => `${p.orgId}/${p.adapter}/${p.runId}/${p.entity}`
})

/** A failure of one step, carried through the workflow journal as data. */
export class EntityStepError extends Schema.TaggedError<EntityStepError>()("EntityStepError", {
  entity: Schema.String,
  step: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.entity}: ${this.step} failed: ${this.reason}`
  }
}

/** A cursor range of an entity read as its own keyset stream: (after, until]. */
const Partition = Schema.Struct({
  after: Schema.Option(Adapter.Position),
  until: Schema.Option(Schema.Date)
})
type Partition = typeof Partition.Type

const StartInfo = Schema.Struct({
  partitions: Schema.Array(Partition),
  /** Whether the first page steps back by the lookback (delta from a watermark). */
  lookback: Schema.Boolean,
  highWater: Schema.Option(Schema.Date),
  watermarkBefore: Schema.Option(Schema.Date),
  mode: Schema.Literal("full", "delta", "reconciliation")
})

const PageResult = Schema.Struct({
  last: Schema.Option(Adapter.Position),
  hasMore: Schema.Boolean,
  records: Schema.Number
})

const asStepError = (entity: string, step: string) => (error: { readonly message: string }) =>
  new EntityStepError({ entity, step, reason: error.message })

type Payload = Schema.Struct.Type<typeof EntitySyncPayload>

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`

const startStep = (p: Payload) =>
  Effect.gen(function*() {
    const registry = yield* AdapterRegistry
    const config = yield* EngineConfig
    const adapter = yield* registry.get(p.orgId, p.adapter)
    const mark = yield* Watermarks.get(p.orgId, p.adapter, p.entity)
    const watermark = Option.flatMap(mark, (m) => m.watermark)
    // A delta without a watermark has nothing to start from: it reads everything, as a full would.
    const mode = p.syncType === "delta" && Option.isNone(watermark) ? "full" : p.syncType
    // Both water marks at once: each is a round trip to a slow source.
    const [highWater, lowWater] = mode === "full"
      ? yield* Effect.all([adapter.highWater(p.entity), adapter.lowWater(p.entity)], { concurrency: 2 })
      : [Option.none<Date>(), Option.none<Date>()]
    yield* RunHistory.markEntityStarted(p.runId, p.entity, config.nodeName, watermark, highWater)
    const partitions: ReadonlyArray<Partition> = mode === "full"
      ? partitionsOf(lowWater, highWater, config.fullSyncPartitions, adapter.cursorResolutionMillis)
      : [{
        after: mode === "delta" ? Option.map(watermark, (cursor) => ({ cursor, key: "" })) : Option.none(),
        until: Option.none()
      }]
    return {
      partitions,
      lookback: mode === "delta",
      highWater,
      watermarkBefore: watermark,
      mode
    } as const
  })

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

const pageStep = (
  p: Payload,
  mode: typeof StartInfo.Type["mode"],
  pageNo: number,
  partition: number,
  after: Option.Option<Adapter.Position>,
  until: Option.Option<Date>,
  lookback: boolean
) =>
  Effect.gen(function*() {
    const registry = yield* AdapterRegistry
    const config = yield* EngineConfig
    const prefetch = yield* PagePrefetch
    const adapter = yield* registry.get(p.orgId, p.adapter)
    const stream = `${p.runId}/${p.entity}/${partition}`
    const context = yield* Effect.context<SqlClient.SqlClient>()
    // The page and its missing parents: prepared in the background for the next page, so that the
    // parents' query (and fetch) overlaps the write of this one.
    const prepare = (position: Option.Option<Adapter.Position>, withLookback: boolean) =>
      adapter.fetchPage({
        entity: p.entity,
        after: position,
        limit: config.pageSize,
        ...(withLookback ? { lookback: config.lookback } : {}),
        ...(Option.isSome(until) ? { until: until.value } : {})
      }).pipe(
        Effect.flatMap((page) => Effect.map(fetchMissingParents(adapter, p, page), (parents) => ({ page, parents }))),
        Effect.provide(context)
      )
    return yield* prefetch.withPage(stream, after, config.pageSize, prepare(after, lookback), ({ page, parents }) =>
      Effect.gen(function*() {
        if (page.hasMore && Option.isSome(page.last)) {
          yield* prefetch.start(stream, page.last, config.pageSize, prepare(page.last, false))
        }
        const started = Date.now()
        yield* PageSink.write({
          orgId: p.orgId,
          adapter: p.adapter,
          runId: p.runId,
          entity: adapter.manifest.byName.get(p.entity)!,
          pageNo,
          records: page.records,
          invalid: page.invalid,
          from: after,
          to: page.last,
          node: config.nodeName,
          // A delta's watermark follows its pages; a full's is set once at the end, from the high water.
          advanceWatermark: mode === "delta",
          parents: parents.found,
          missingParents: parents.missing
        })
        yield* Effect.annotateCurrentSpan({ sinkMillis: Date.now() - started })
        // A full sync grows a table from nothing; until Postgres has statistics it may plan the sink's
        // previous-value lookup on the wrong index and scan the org's rows for every row written (seen:
        // pages of minutes at 1M rows). Analysing after pages 1, 2, 4, 8, ... keeps the statistics within
        // a factor of two of the truth at a cost of about log2(pages) ANALYZEs per entity.
        if (mode === "full" && (pageNo & (pageNo - 1)) === 0) {
          const sql = yield* SqlClient.SqlClient
          yield* sql.unsafe(`ANALYZE ${quoteIdent(CacheTables.tableName(p.adapter, p.entity))}`)
        }
        return { last: page.last, hasMore: page.hasMore, records: page.records.length + page.invalid.length }
      }).pipe(
        // The next page's prefetch would never be taken here: this page's activity fails and ends the partition.
        Effect.onError(() => prefetch.discard(stream))
      ))
  }).pipe(Effect.withSpan("EntitySync.page", { attributes: { entity: p.entity, page: pageNo } }))

/** Hard parents the page references but the cache lacks: fetched by key so the page can be stored. */
const fetchMissingParents = (adapter: Adapter.Adapter, p: Payload, page: Adapter.Page) =>
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

const finishStep = (p: Payload, start: typeof StartInfo.Type) =>
  Effect.gen(function*() {
    const registry = yield* AdapterRegistry
    const config = yield* EngineConfig
    const adapter = yield* registry.get(p.orgId, p.adapter)
    const definition = adapter.manifest.byName.get(p.entity)!
    let deleted = 0
    if (start.mode === "delta" && definition.deletions.auditFeed && Option.isSome(start.watermarkBefore)) {
      const since = new Date(start.watermarkBefore.value.getTime() - Duration.toMillis(config.lookback))
      deleted = yield* adapter.deletionsSince(p.entity, since).pipe(
        Stream.grouped(1000),
        Stream.runFoldEffect(0, (total, chunk) =>
          Effect.map(
            PageSink.applyDeletions({
              orgId: p.orgId,
              adapter: p.adapter,
              runId: p.runId,
              entity: definition,
              deletions: Chunk.toReadonlyArray(chunk)
            }),
            (count) => total + count
          ))
      )
    }
    if (start.mode === "full") {
      const watermark = Option.map(start.highWater, (t) => new Date(t.getTime() - Duration.toMillis(config.lookback)))
      yield* Watermarks.setAfterFull(p.orgId, p.adapter, p.entity, watermark)
    }
    const after = yield* Watermarks.get(p.orgId, p.adapter, p.entity)
    yield* RunHistory.markEntityFinished({
      runId: p.runId,
      entity: p.entity,
      status: "succeeded",
      node: config.nodeName,
      deleted,
      watermarkAfter: Option.flatMap(after, (m) => m.watermark)
    })
  })

const reconcileStep = (p: Payload) =>
  Effect.gen(function*() {
    const registry = yield* AdapterRegistry
    const config = yield* EngineConfig
    const adapter = yield* registry.get(p.orgId, p.adapter)
    const definition = adapter.manifest.byName.get(p.entity)!
    const deleted = yield* Effect.scoped(Effect.gen(function*() {
      const result = yield* Reconciliation.reconcile({
        orgId: p.orgId,
        adapter: p.adapter,
        runId: p.runId,
        entity: definition,
        keys: adapter.streamKeys(p.entity)
      })
      yield* result.refetch(config.pageSize).pipe(
        Stream.runFoldEffect(0, (pageNo, keys) =>
          Effect.gen(function*() {
            const page = yield* adapter.fetchByKeys(p.entity, keys)
            yield* PageSink.write({
              orgId: p.orgId,
              adapter: p.adapter,
              runId: p.runId,
              entity: definition,
              pageNo: pageNo + 1,
              records: page.records,
              invalid: page.invalid,
              from: Option.none(),
              to: Option.none(),
              node: config.nodeName,
              advanceWatermark: false
            })
            return pageNo + 1
          }))
      )
      return result.deleted
    }))
    yield* Watermarks.setAfterReconciliation(p.orgId, p.adapter, p.entity)
    yield* RunHistory.markEntityFinished({
      runId: p.runId,
      entity: p.entity,
      status: "succeeded",
      node: config.nodeName,
      deleted
    })
  })

const failStep = (p: Payload, error: EntityStepError) =>
  Effect.gen(function*() {
    const config = yield* EngineConfig
    yield* RunHistory.markEntityFinished({
      runId: p.runId,
      entity: p.entity,
      status: "failed",
      node: config.nodeName,
      error: error.message
    })
  })

type StepError = SourceError.SourceError | { readonly _tag: string; readonly message: string }

const activity = <A, I>(
  name: string,
  success: Schema.Schema<A, I>,
  p: Payload,
  execute: Effect.Effect<A, StepError, AdapterRegistry | EngineConfig | PagePrefetch | PageSink.SinkContext>
) =>
  Activity.make({
    name,
    success,
    error: EntityStepError,
    execute: Effect.mapError(execute, asStepError(p.entity, name))
  })

export const layer = EntitySyncWorkflow.toLayer(Effect.fn(function*(p) {
  const body = Effect.gen(function*() {
    const start = yield* activity("start", StartInfo, p, startStep(p))
    if (start.mode === "reconciliation") {
      yield* activity("reconcile", Schema.Void, p, reconcileStep(p))
      return
    }
    const count = start.partitions.length
    // Page numbers interleave the partitions (1, 1+count, ... for the first), so each is unique.
    const readPartition = (partition: Partition, index: number) =>
      Effect.gen(function*() {
        let after = partition.after
        let lookback = start.lookback
        for (let n = 0;; n++) {
          const pageNo = n * count + index + 1
          // The durable call as the workflow sees it: its span less the activity's own is the journal's cost.
          const result = yield* activity(
            `page-${pageNo}`,
            PageResult,
            p,
            pageStep(p, start.mode, pageNo, index, after, partition.until, lookback)
          ).pipe(Effect.withSpan("EntitySync.pageActivity", { attributes: { entity: p.entity, page: pageNo } }))
          if (!result.hasMore || Option.isNone(result.last)) return
          after = result.last
          lookback = false
        }
      })
    yield* Effect.all(start.partitions.map(readPartition), { concurrency: "unbounded", discard: true })
    yield* activity("finish", Schema.Void, p, finishStep(p, start))
  })
  return yield* body.pipe(
    Effect.as<EntityOutcome>({ entity: p.entity, status: "succeeded", error: null }),
    Effect.catchTag("EntityStepError", (error) =>
      Effect.orDie(activity("fail", Schema.Void, p, failStep(p, error))).pipe(
        Effect.as<EntityOutcome>({ entity: p.entity, status: "failed", error: error.message })
      ))
  )
}))
