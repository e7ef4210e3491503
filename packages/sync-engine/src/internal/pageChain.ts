/**
 * The order of one partition's pages while their activities overlap, in the process that runs the
 * workflow (its activities run there too). Page n+1's activity starts while page n's is writing: it
 * takes page n's end as soon as page n is fetched, fetches its own page, and writes it only once page
 * n has committed. So the activity journal's round trips for page n+1 overlap page n's statement,
 * while the pages still commit one after the other, in keyset order.
 *
 * Each page's two facts are settled once, by whoever knows first: the page's live activity, or the
 * workflow when the activity's journaled result comes back (a replay after a crash). Nothing here is
 * durable; it only carries what the journal or the page's own activity also knows.
 */
import type { Adapter } from "@tidemark/adapter-core"
import { Deferred, Effect, FiberId, Option } from "effect"

/** Where a page ended: the position the next page starts after, and whether there is a next page. */
export interface PageEnd {
  readonly last: Option.Option<Adapter.Position>
  readonly hasMore: boolean
}

interface Facts {
  /** The page's end, known once it is fetched; none when its activity failed first. */
  readonly fetched: Deferred.Deferred<Option.Option<PageEnd>>
  /** Whether the page committed; false when its activity failed or did not write it. */
  readonly committed: Deferred.Deferred<boolean>
}

export interface PageChain {
  /** Page `n`'s end: waits until it is fetched (or its activity failed: none). */
  readonly fetched: (n: number) => Effect.Effect<Option.Option<PageEnd>>
  /** Whether page `n` committed: waits until it did, or its activity ended without committing. */
  readonly committed: (n: number) => Effect.Effect<boolean>
  readonly settleFetched: (n: number, end: Option.Option<PageEnd>) => Effect.Effect<void>
  readonly settleCommitted: (n: number, committed: boolean) => Effect.Effect<void>
  /** Both facts at once: a page committed with this end, or (none) a page that will never commit. */
  readonly settle: (n: number, end: Option.Option<PageEnd>) => Effect.Effect<void>
  /** Drops what is known of pages before `n` (nobody waits for them any more). */
  readonly forgetBefore: (n: number) => void
  /**
   * True for the first `count` live executions of the chain's page activities: the pages that a
   * process before this one may have committed without journaling their activity (see
   * `EntitySyncWorkflow`), which look for their commit before fetching.
   */
  readonly takeRecheck: () => boolean
}

export const make = (recheckFirst: number): PageChain => {
  const pages = new Map<number, Facts>()
  let rechecks = recheckFirst
  const factsOf = (n: number): Facts => {
    let facts = pages.get(n)
    if (facts === undefined) {
      facts = {
        fetched: Deferred.unsafeMake<Option.Option<PageEnd>>(FiberId.none),
        committed: Deferred.unsafeMake<boolean>(FiberId.none)
      }
      pages.set(n, facts)
    }
    return facts
  }
  const settleFetched = (n: number, end: Option.Option<PageEnd>) =>
    Effect.asVoid(Effect.suspend(() => Deferred.succeed(factsOf(n).fetched, end)))
  const settleCommitted = (n: number, committed: boolean) =>
    Effect.asVoid(Effect.suspend(() => Deferred.succeed(factsOf(n).committed, committed)))
  return {
    fetched: (n) => Effect.suspend(() => Deferred.await(factsOf(n).fetched)),
    committed: (n) => Effect.suspend(() => Deferred.await(factsOf(n).committed)),
    settleFetched,
    settleCommitted,
    settle: (n, end) => Effect.zipRight(settleFetched(n, end), settleCommitted(n, Option.isSome(end))),
    forgetBefore: (n) => {
      for (const page of pages.keys()) {
        if (page < n) pages.delete(page)
      }
    },
    takeRecheck: () => {
      if (rechecks <= 0) return false
      rechecks--
      return true
    }
  }
}
