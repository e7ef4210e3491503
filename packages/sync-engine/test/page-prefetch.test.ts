import { describe, expect, it } from "@effect/vitest"
import type { Adapter } from "@tidemark/adapter-core"
import { Deferred, Effect, Fiber, Option, Ref, TestClock } from "effect"
import * as PagePrefetch from "../src/PagePrefetch.js"

const page = (entity: string): PagePrefetch.PreparedPage => ({
  page: { entity, records: [], invalid: [], last: Option.none(), hasMore: false } satisfies Adapter.Page,
  parents: Option.none()
})

const at = (key: string) => Option.some({ cursor: new Date(0), key })

describe("PagePrefetch", () => {
  it.scoped("bounds the rows in flight: a page waits for room before it is fetched", () =>
    Effect.gen(function*() {
      const prefetch = yield* PagePrefetch.make({ maxRowsInFlight: 100 })
      const fetched = yield* Ref.make<ReadonlyArray<string>>([])
      const fetch = (name: string) => Effect.as(Ref.update(fetched, (names) => [...names, name]), page(name))
      const release = yield* Deferred.make<void>()
      const first = yield* Effect.fork(
        prefetch.withPage("a", Option.none(), 60, fetch("a1"), () => Deferred.await(release))
      )
      yield* Effect.yieldNow()
      const second = yield* Effect.fork(prefetch.withPage("b", Option.none(), 60, fetch("b1"), () => Effect.void))
      yield* Effect.yieldNow()
      expect(yield* Ref.get(fetched)).toEqual(["a1"])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      expect(yield* Ref.get(fetched)).toEqual(["a1", "b1"])
    }))

  it.scoped("hands a prefetched page to the next page of its stream, and its rows with it", () =>
    Effect.gen(function*() {
      const prefetch = yield* PagePrefetch.make({ maxRowsInFlight: 100 })
      const fetches = yield* Ref.make(0)
      const fetch = (name: string) => Effect.as(Ref.update(fetches, (n) => n + 1), page(name))
      yield* prefetch.withPage("a", Option.none(), 50, fetch("a1"), () => prefetch.start("a", at("k"), 50, fetch("a2")))
      const second = yield* prefetch.withPage("a", at("k"), 50, fetch("unused"), (p) => Effect.succeed(p.page.entity))
      expect(second).toBe("a2")
      expect(yield* Ref.get(fetches)).toBe(2)
      // All rows are free again: a page of the whole budget goes through at once.
      yield* prefetch.withPage("b", Option.none(), 100, fetch("b1"), () => Effect.void)
    }))

  it.scoped("frees the rows of a prefetch that is discarded or never taken", () =>
    Effect.gen(function*() {
      const prefetch = yield* PagePrefetch.make({ maxRowsInFlight: 100, unclaimedAfter: "1 minute" })
      yield* prefetch.start("a", at("k"), 100, Effect.succeed(page("a2")))
      yield* prefetch.discard("a")
      yield* prefetch.withPage("b", Option.none(), 100, Effect.succeed(page("b1")), () => Effect.void)
      yield* prefetch.start("c", at("k"), 100, Effect.succeed(page("c2")))
      yield* Effect.yieldNow()
      const blocked = yield* Effect.fork(prefetch.withPage("d", Option.none(), 100, Effect.succeed(page("d1")), () => Effect.void))
      yield* Effect.yieldNow()
      expect(blocked.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(blocked)
      // The dropped prefetch is gone: its stream fetches anew.
      const again = yield* prefetch.withPage("c", at("k"), 100, Effect.succeed(page("fresh")), (p) => Effect.succeed(p.page.entity))
      expect(again).toBe("fresh")
    }))
})
