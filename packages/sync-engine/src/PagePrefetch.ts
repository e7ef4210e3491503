/**
 * Overlaps preparing page n+1 (fetching it, and finding and fetching the hard parents its records
 * reference that the cache lacks) with writing page n, and bounds the rows a node holds in memory.
 * Each page activity hands the preparation of the next page to this process-local cache; the next
 * activity takes it if it runs on the same node, and prepares it anew otherwise (after a crash or a
 * move to another node): the prefetch is an optimisation, never state the workflow depends on.
 *
 * Every page counts its requested rows against one budget per node (`maxRowsInFlight`) from the
 * moment its fetch starts until its activity has written it, prefetched or not (and the first pages
 * of a run's next level against a budget of half that, see `startAhead`). Without that bound a
 * full sync holds two pages per partition at once, and the V8 heap, which grows with what survives
 * its collections, grew with the run's length.
 */
import type { Adapter, SourceError } from "@tidemark/adapter-core"
import { Context, Duration, Effect, Exit, Fiber, Layer, Option } from "effect"
import { EngineConfig } from "./EngineConfig.js"
import type * as PageSink from "./PageSink.js"

/**
 * A page ready for the sink: its records, and the hard parents they reference that the cache lacked
 * when it was prepared (fetched by key, or missing at the source too); none when they were not
 * looked for yet (a page of the next level, prepared before its parents' level was done). A parent
 * stored in between is fetched and upserted again, harmlessly.
 */
export interface PreparedPage {
  readonly page: Adapter.Page
  readonly parents: Option.Option<PageParents>
}

export interface PageParents {
  readonly found: ReadonlyArray<PageSink.ParentRecords>
  readonly missing: ReadonlyArray<PageSink.MissingParents>
}

export type PrepareError = SourceError.SourceError | PageSink.PageSinkError

type PageFiber = Fiber.RuntimeFiber<PreparedPage, PrepareError>

export interface PagePrefetchShape {
  /**
   * Runs `use` on the page at `after`: the one prefetched for `stream` when there is one at that
   * position, else prepared now. The page's `rows` (the request's limit) count against the node's rows
   * in flight from the start of its fetch until `use` ends.
   */
  readonly withPage: <A, E, R>(
    stream: string,
    after: Option.Option<Adapter.Position>,
    rows: number,
    prepare: Effect.Effect<PreparedPage, PrepareError>,
    use: (page: PreparedPage) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | PrepareError, R>
  /**
   * Starts preparing the page at `after` in the background, as soon as its rows fit in the budget;
   * replaces any earlier prefetch of `stream`.
   */
  readonly start: (
    stream: string,
    after: Option.Option<Adapter.Position>,
    rows: number,
    prepare: Effect.Effect<PreparedPage, PrepareError>
  ) => Effect.Effect<void>
  /**
   * Like `start`, for the first page of a partition of a later level of a run (see `LevelLookahead`):
   * those pages wait for a level that cannot start before the running one ends, so they never take
   * the budget the running level needs. They have one of their own, half of `maxRowsInFlight`, and
   * when it has no room now the page is not prefetched (its activity prepares it). True if started.
   */
  readonly startAhead: (
    stream: string,
    after: Option.Option<Adapter.Position>,
    rows: number,
    prepare: Effect.Effect<PreparedPage, PrepareError>
  ) => Effect.Effect<boolean>
  /** Drops the prefetch of `stream`, if any (the page before it failed: nobody will take it here). */
  readonly discard: (stream: string) => Effect.Effect<void>
}

export class PagePrefetch extends Context.Tag("@tidemark/sync-engine/PagePrefetch")<PagePrefetch, PagePrefetchShape>() {}

const positionKey = (after: Option.Option<Adapter.Position>) =>
  Option.match(after, { onNone: () => "start", onSome: (p) => `${p.cursor.getTime()}|${p.key}` })

interface Entry {
  readonly position: string
  readonly fiber: PageFiber
  /** Gives the page's rows back to the budget they were taken from, once the page is written or dropped. */
  readonly release: Effect.Effect<void>
  expiry: Fiber.RuntimeFiber<void> | undefined
}

export interface PagePrefetchOptions {
  /** Rows (requested page sizes) a node may hold at once, fetched or being fetched; at least one page. */
  readonly maxRowsInFlight: number
  /**
   * A prefetched page nobody took within this time is dropped and its rows freed: its workflow moved,
   * failed or was cancelled. Default 5 minutes.
   */
  readonly unclaimedAfter?: Duration.DurationInput
}

export const make = (options: PagePrefetchOptions) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const capacity = Math.max(1, Math.floor(options.maxRowsInFlight))
    const rowsInFlight = yield* Effect.makeSemaphore(capacity)
    const unclaimedAfter = options.unclaimedAfter ?? Duration.minutes(5)
    const pending = new Map<string, Entry>()
    // A page larger than the whole budget takes the whole budget, rather than waiting forever.
    const permitsFor = (rows: number) => Math.min(Math.max(1, Math.ceil(rows)), capacity)

    /** The preparation, holding `permits` once taken; they are released here only if it fails. */
    const holding = (permits: number, prepare: Effect.Effect<PreparedPage, PrepareError>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(
          restore(rowsInFlight.take(permits)),
          Effect.onError(restore(prepare), () => rowsInFlight.release(permits))
        )
      )

    /** Stops an entry already removed from `pending`; a page it had fetched gives its rows back. */
    const drop = (entry: Entry) =>
      Effect.gen(function*() {
        if (entry.expiry !== undefined) yield* Fiber.interruptFork(entry.expiry)
        const exit = yield* Fiber.interrupt(entry.fiber)
        if (Exit.isSuccess(exit)) yield* entry.release
      })

    // Plain numbers suffice for the lookahead's budget: it is checked and taken in one synchronous step.
    const aheadCapacity = Math.max(1, Math.floor(capacity / 2))
    let aheadRows = 0

    const claim = (stream: string, after: Option.Option<Adapter.Position>) => {
      const entry = pending.get(stream)
      if (entry === undefined || entry.position !== positionKey(after)) return undefined
      pending.delete(stream)
      return entry
    }

    const withPage: PagePrefetchShape["withPage"] = (stream, after, rows, prepare, use) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const entry = claim(stream, after)
          let release: Effect.Effect<void>
          let page: PreparedPage
          if (entry !== undefined) {
            if (entry.expiry !== undefined) yield* Fiber.interruptFork(entry.expiry)
            release = entry.release
            page = yield* restore(Fiber.join(entry.fiber)).pipe(
              Effect.onInterrupt(() => drop(entry)),
              Effect.withSpan("PagePrefetch.wait", { attributes: { prefetched: true } })
            )
          } else {
            const permits = permitsFor(rows)
            release = rowsInFlight.release(permits)
            page = yield* restore(holding(permits, prepare)).pipe(
              Effect.withSpan("PagePrefetch.wait", { attributes: { prefetched: false } })
            )
          }
          return yield* restore(use(page)).pipe(Effect.ensuring(release))
        })
      )

    const discard: PagePrefetchShape["discard"] = (stream) =>
      Effect.suspend(() => {
        const entry = pending.get(stream)
        if (entry === undefined) return Effect.void
        pending.delete(stream)
        return drop(entry)
      })

    const register = (stream: string, after: Option.Option<Adapter.Position>, fiber: PageFiber, release: Effect.Effect<void>) =>
      Effect.gen(function*() {
        const entry: Entry = { position: positionKey(after), fiber, release, expiry: undefined }
        pending.set(stream, entry)
        entry.expiry = yield* Effect.forkIn(
          Effect.delay(
            Effect.suspend(() => {
              if (pending.get(stream) !== entry) return Effect.void
              pending.delete(stream)
              entry.expiry = undefined
              return drop(entry)
            }),
            unclaimedAfter
          ),
          scope
        )
      })

    const start: PagePrefetchShape["start"] = (stream, after, rows, prepare) =>
      Effect.gen(function*() {
        yield* discard(stream)
        const permits = permitsFor(rows)
        const fiber = yield* Effect.forkIn(holding(permits, prepare), scope)
        yield* register(stream, after, fiber, rowsInFlight.release(permits))
      })

    const startAhead: PagePrefetchShape["startAhead"] = (stream, after, rows, prepare) =>
      Effect.gen(function*() {
        yield* discard(stream)
        const permits = Math.max(1, Math.ceil(rows))
        if (aheadRows + permits > aheadCapacity) return false
        aheadRows += permits
        const release = Effect.sync(() => {
          aheadRows -= permits
        })
        const fiber = yield* Effect.forkIn(Effect.onError(prepare, () => release), scope)
        yield* register(stream, after, fiber, release)
        return true
      })

    return PagePrefetch.of({ withPage, start, startAhead, discard })
  })

/** The node's prefetch, bounded by `EngineConfig.maxRowsInFlight`. */
export const layer: Layer.Layer<PagePrefetch, never, EngineConfig> = Layer.scoped(
  PagePrefetch,
  Effect.flatMap(EngineConfig, (config) => make({ maxRowsInFlight: config.maxRowsInFlight }))
)

/** For places that run without prefetching or a bound (tests of one page, tools). */
export const none: PagePrefetchShape = {
  withPage: (_stream, _after, _rows, prepare, use) => Effect.flatMap(prepare, use),
  start: () => Effect.void,
  startAhead: () => Effect.succeed(false),
  discard: () => Effect.void
}
