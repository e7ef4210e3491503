/**
 * Where a page's time goes, from the spans the engine already opens: a tracer for the bench's sync
 * node that forwards every span to Effect's own and, when a page's spans end, notes their durations
 * by (entity, page). `sync.page_overhead` reads them to measure the per-page bookkeeping directly.
 */
import { Effect, Option, Tracer } from "effect"

/** One page activity's times, in ms. */
export interface PageTiming {
  readonly entity: string
  readonly page: number
  /** The durable activity call as the workflow sees it (`EntitySync.pageActivity`). */
  activityMs: number
  /** The activity's own execution (`EntitySync.page`). */
  executeMs: number
  /** Waiting for the page: a prefetch not done yet, or the whole fetch (`PagePrefetch.wait`). */
  waitMs: number
  /** The page's statement: upsert, change log and bookkeeping (`PageSink.write`). */
  writeMs: number
  /** The query for hard parents the cache lacks (`PageSink.missingHardParents`). */
  parentsMs: number
  /** Waiting, page in hand, for the page before it to commit (`EntitySync.awaitPrevious`). */
  previousMs: number
}

type Measured = Exclude<keyof PageTiming, "entity" | "page">

const recorded: Partial<Record<string, Measured>> = {
  "EntitySync.pageActivity": "activityMs",
  "EntitySync.page": "executeMs",
  "PagePrefetch.wait": "waitMs",
  "PageSink.write": "writeMs",
  "PageSink.missingHardParents": "parentsMs",
  "EntitySync.awaitPrevious": "previousMs"
}

/** The (entity, page) a span belongs to: its own attributes or its nearest ancestor's that has them. */
const pageOf = (span: Tracer.AnySpan): { entity: string; page: number } | undefined => {
  let current: Tracer.AnySpan | undefined = span
  while (current !== undefined) {
    if (current._tag === "Span") {
      const entity = current.attributes.get("entity")
      const page = current.attributes.get("page")
      if (typeof entity === "string" && typeof page === "number") return { entity, page }
    }
    current = current._tag === "Span" ? Option.getOrUndefined(current.parent) : undefined
  }
  return undefined
}

export const makeRecorder = () => {
  const pages = new Map<string, PageTiming>()
  const native = Effect.runSync(Effect.tracer)
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = native.span(name, parent, context, links, startTime, kind, options)
      const field = recorded[name]
      if (field === undefined) return span
      const end = span.end.bind(span)
      span.end = (endTime, exit) => {
        end(endTime, exit)
        const owner = pageOf(span)
        if (owner === undefined) return
        const key = `${owner.entity}/${owner.page}`
        let timing = pages.get(key)
        if (timing === undefined) {
          timing = { ...owner, activityMs: 0, executeMs: 0, waitMs: 0, writeMs: 0, parentsMs: 0, previousMs: 0 }
          pages.set(key, timing)
        }
        timing[field] += Number(endTime - startTime) / 1e6
      }
      return span
    },
    context: (f, fiber) => native.context(f, fiber)
  })
  return {
    tracer,
    /** The page timings noted since the last call. */
    take: (): ReadonlyArray<PageTiming> => {
      const taken = [...pages.values()]
      pages.clear()
      return taken
    }
  }
}
