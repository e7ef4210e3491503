/**
 * One entity of one run, as a durable workflow: a start activity that fixes where to begin, one
 * activity per page (fetch, validate, transform, upsert, advance the cursor, all committed in one
 * transaction), and a finish activity (deletions, watermark, history). A partition's page activities
 * overlap, pages still committing in order (see PageChain). After a crash the workflow resumes on any
 * node from the last committed page; only pages in flight that had not committed are fetched again.
 */
import { SqlClient } from "@effect/sql"
import { Activity, Workflow } from "@effect/workflow"
import { Adapter, type SourceError } from "@tidemark/adapter-core"
import { Chunk, Duration, Effect, Exit, Fiber, Option, Schema, Stream } from "effect"
import { AdapterRegistry } from "./AdapterRegistry.js"
import * as CacheTables from "./CacheTables.js"
import { EngineConfig } from "./EngineConfig.js"
import * as EntityPlan from "./EntityPlan.js"
import * as PageChain from "./internal/pageChain.js"
import { LevelLookahead } from "./LevelLookahead.js"
import * as PageSink from "./PageSink.js"
import { PagePrefetch } from "./PagePrefetch.js"
import * as Reconciliation from "./Reconciliation.js"
import * as RunHistory from "./RunHistory.js"
import * as Watermarks from "./Watermarks.js"

export const EntitySyncPayload = EntityPlan.EntitySyncPayload

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

const PageResult = Schema.Struct({
  last: Schema.Option(Adapter.Position),
  hasMore: Schema.Boolean,
  records: Schema.Number
})

const asStepError = (entity: string, step: string) => (error: { readonly message: string }) =>
  new EntityStepError({ entity, step, reason: error.message })

type Payload = EntityPlan.Payload

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`

/**
 * Whether a power of two from 1,024 on lies in (before, after]: the rows a full sync's pages have
 * written so far, as page numbers interleave its partitions (page n: about n pages of rows).
 */
export const crossesPowerOfTwo = (before: number, after: number) => {
  for (let power = 1024; power <= after; power *= 2) {
    if (power > before) return true
  }
  return false
}

/** The plan made ahead by the lookahead when this node made one, else made now; the run marked started. */
const startStep = (p: Payload) =>
  Effect.gen(function*() {
    const config = yield* EngineConfig
    const lookahead = yield* LevelLookahead
    const ahead = yield* lookahead.takePlan(p)
    const made = Option.isSome(ahead) ? ahead.value : yield* EntityPlan.plan(p)
    yield* RunHistory.markEntityStarted(p.runId, p.entity, config.nodeName, made.watermarkBefore, made.highWater)
    return made
  })

/** What a page activity returns when its page is not to be written: the page before it did not commit. */
const notWritten: typeof PageResult.Type = { last: Option.none(), hasMore: false, records: 0 }

/** Page `ordinal` of partition `index` (0, 1, ... within the partition), numbered `pageNo` in the run. */
interface PageSlot {
  readonly pageNo: number
  readonly ordinal: number
  readonly index: number
  readonly partition: EntityPlan.Partition
  /** The partition's first page of a delta: it starts a lookback before the watermark. */
  readonly lookback: boolean
}

const pageStep = (p: Payload, mode: EntityPlan.Plan["mode"], slot: PageSlot, chain: PageChain.PageChain) =>
  Effect.gen(function*() {
    const { index, ordinal, pageNo, partition } = slot
    // A page that a process before this one committed without journaling its activity: returned as
    // committed, not fetched again.
    if (chain.takeRecheck()) {
      const committed = yield* RunHistory.committedPage(p.runId, p.entity, pageNo)
      if (Option.isSome(committed)) {
        const { hasMore, last, records } = committed.value
        yield* chain.settle(ordinal, Option.some({ last, hasMore }))
        return { last, hasMore, records }
      }
    }
    let after = partition.after
    if (ordinal > 0) {
      const before = yield* chain.fetched(ordinal - 1)
      if (Option.isNone(before) || !before.value.hasMore || Option.isNone(before.value.last)) return notWritten
      after = before.value.last
    }
    const registry = yield* AdapterRegistry
    const config = yield* EngineConfig
    const prefetch = yield* PagePrefetch
    const adapter = yield* registry.get(p.orgId, p.adapter)
    const stream = EntityPlan.streamOf(p, index)
    // The page and its missing parents: prepared in the background for the next page, so that the
    // parents' query (and fetch) overlaps the write of this one.
    const prepare = yield* EntityPlan.pagePreparer(p, partition)
    return yield* prefetch.withPage(stream, after, config.pageSize, prepare(after, slot.lookback), (prepared) =>
      Effect.gen(function*() {
        const { page } = prepared
        if (page.hasMore && Option.isSome(page.last)) {
          yield* prefetch.start(stream, page.last, config.pageSize, prepare(page.last, false))
        }
        // After the prefetch is registered, so that the next page's activity finds it.
        yield* chain.settleFetched(ordinal, Option.some({ last: page.last, hasMore: page.hasMore }))
        const parents = Option.isSome(prepared.parents)
          ? prepared.parents.value
          : yield* EntityPlan.fetchMissingParents(adapter, p, page)
        // Pages commit in keyset order: this one waits for the one before it.
        if (ordinal > 0 && !(yield* chain.committed(ordinal - 1).pipe(Effect.withSpan("EntitySync.awaitPrevious")))) {
          yield* prefetch.discard(stream)
          return notWritten
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
          hasMore: page.hasMore,
          node: config.nodeName,
          // A delta's watermark follows its pages; a full's is set once at the end, from the high water.
          advanceWatermark: mode === "delta",
          parents: parents.found,
          missingParents: parents.missing
        })
        yield* chain.settleCommitted(ordinal, true)
        yield* Effect.annotateCurrentSpan({ sinkMillis: Date.now() - started })
        // A full sync grows a table from nothing, and Postgres plans on statistics (seen without them:
        // pages of minutes at 1M rows, before the sink's lookup of previous values was made one per
        // page). Analysing each time the rows written cross a power of two keeps them within a factor
        // of two of the truth, at about log2(rows / 1,000) ANALYZEs per entity whatever the page size.
        if (mode === "full" && crossesPowerOfTwo((pageNo - 1) * config.pageSize, pageNo * config.pageSize)) {
          const sql = yield* SqlClient.SqlClient
          yield* sql.unsafe(`ANALYZE ${quoteIdent(CacheTables.tableName(p.adapter, p.entity))}`)
        }
        return { last: page.last, hasMore: page.hasMore, records: page.records.length + page.invalid.length }
      }).pipe(
        // The next page's prefetch would never be taken here: this page's activity fails and ends the partition.
        Effect.onError(() => prefetch.discard(stream))
      ))
  }).pipe(
    // Whatever this attempt did not settle, it will not: the page after it must not wait for it.
    Effect.ensuring(chain.settle(slot.ordinal, Option.none())),
    Effect.withSpan("EntitySync.page", { attributes: { entity: p.entity, page: slot.pageNo } })
  )

const finishStep = (p: Payload, start: EntityPlan.Plan) =>
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
  execute: Effect.Effect<A, StepError, AdapterRegistry | EngineConfig | PagePrefetch | LevelLookahead | PageSink.SinkContext>
) =>
  Activity.make({
    name,
    success,
    error: EntityStepError,
    execute: Effect.mapError(execute, asStepError(p.entity, name))
  })

/**
 * Page activities of one partition in flight at once (see PageChain): the journal's round trips for
 * the later pages overlap the writes of the earlier ones.
 */
const PAGES_IN_FLIGHT = 3

export const layer = EntitySyncWorkflow.toLayer(Effect.fn(function*(p) {
  const body = Effect.gen(function*() {
    const start = yield* activity("start", EntityPlan.Plan, p, startStep(p))
    if (start.mode === "reconciliation") {
      yield* activity("reconcile", Schema.Void, p, reconcileStep(p))
      return
    }
    const count = start.partitions.length
    // Page numbers interleave the partitions (1, 1+count, ... for the first), so each is unique.
    // PAGES_IN_FLIGHT pages of a partition are in flight at once: page n+1's activity is journaled,
    // and its page fetched, while page n is written (see PageChain). Every page before them has its
    // activity journaled, so after a crash only they can have committed unjournaled: the first
    // PAGES_IN_FLIGHT page activities a process runs live look for their commit first.
    const readPartition = (partition: EntityPlan.Partition, index: number) =>
      Effect.gen(function*() {
        const chain = PageChain.make(PAGES_IN_FLIGHT)
        const launch = (ordinal: number) => {
          const slot: PageSlot = {
            pageNo: ordinal * count + index + 1,
            ordinal,
            index,
            partition,
            lookback: ordinal === 0 && start.lookback
          }
          // The durable call as the workflow sees it: its span less the activity's own is the journal's cost.
          return activity(`page-${slot.pageNo}`, PageResult, p, pageStep(p, start.mode, slot, chain)).pipe(
            Effect.withSpan("EntitySync.pageActivity", { attributes: { entity: p.entity, page: slot.pageNo } }),
            // A journaled result (a replay) tells the chain what the page's own activity would have.
            Effect.tap((result) => chain.settle(ordinal, Option.some({ last: result.last, hasMore: result.hasMore }))),
            Effect.onError(() => chain.settle(ordinal, Option.none())),
            Effect.fork
          )
        }
        const inFlight: Array<Fiber.RuntimeFiber<typeof PageResult.Type, EntityStepError>> = [yield* launch(0)]
        for (let ordinal = 1;; ordinal++) {
          const end = yield* chain.fetched(ordinal - 1)
          if (Option.isNone(end) || !end.value.hasMore || Option.isNone(end.value.last)) break
          if (inFlight.length === PAGES_IN_FLIGHT) {
            const exit = yield* Fiber.await(inFlight.shift()!)
            if (Exit.isFailure(exit)) {
              yield* Fiber.awaitAll(inFlight)
              return yield* exit
            }
          }
          chain.forgetBefore(ordinal - PAGES_IN_FLIGHT)
          inFlight.push(yield* launch(ordinal))
        }
        for (const exit of yield* Fiber.awaitAll(inFlight)) {
          if (Exit.isFailure(exit)) return yield* exit
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
