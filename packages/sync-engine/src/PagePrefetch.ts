/**
 * Overlaps fetching page n+1 with writing page n. Each page activity hands the fetch of the next page
 * to this process-local cache; the next activity takes it if it runs on the same node, and fetches
 * anew otherwise (after a crash or a move to another node): the prefetch is an optimisation, never
 * state the workflow depends on.
 */
import type { Adapter, SourceError } from "@tidemark/adapter-core"
import { Context, Effect, Fiber, Layer, Option } from "effect"

type PageFiber = Fiber.RuntimeFiber<Adapter.Page, SourceError.SourceError>

export interface PagePrefetchShape {
  /** The page at `after`, from a prefetch started earlier when there is one, else fetched now. */
  readonly take: (
    stream: string,
    after: Option.Option<Adapter.Position>,
    fetch: Effect.Effect<Adapter.Page, SourceError.SourceError>
  ) => Effect.Effect<Adapter.Page, SourceError.SourceError>
  /** Starts fetching the page at `after` in the background; replaces any earlier prefetch of `stream`. */
  readonly start: (
    stream: string,
    after: Option.Option<Adapter.Position>,
    fetch: Effect.Effect<Adapter.Page, SourceError.SourceError>
  ) => Effect.Effect<void>
}

export class PagePrefetch extends Context.Tag("@tidemark/sync-engine/PagePrefetch")<PagePrefetch, PagePrefetchShape>() {}

const positionKey = (after: Option.Option<Adapter.Position>) =>
  Option.match(after, { onNone: () => "start", onSome: (p) => `${p.cursor.getTime()}|${p.key}` })

export const make = Effect.gen(function*() {
  const scope = yield* Effect.scope
  const pending = new Map<string, { readonly position: string; readonly fiber: PageFiber }>()

  const take: PagePrefetchShape["take"] = (stream, after, fetch) =>
    Effect.suspend(() => {
      const entry = pending.get(stream)
      if (entry && entry.position === positionKey(after)) {
        pending.delete(stream)
        return Fiber.join(entry.fiber)
      }
      return fetch
    })

  const start: PagePrefetchShape["start"] = (stream, after, fetch) =>
    Effect.gen(function*() {
      const previous = pending.get(stream)
      if (previous) yield* Fiber.interrupt(previous.fiber)
      const fiber = yield* Effect.forkIn(fetch, scope)
      pending.set(stream, { position: positionKey(after), fiber })
    })

  return PagePrefetch.of({ take, start })
})

export const layer: Layer.Layer<PagePrefetch> = Layer.scoped(PagePrefetch, make)

/** For places that run without prefetching (tests of one page, tools). */
export const none: PagePrefetchShape = {
  take: (_stream, _after, fetch) => fetch,
  start: () => Effect.void
}
