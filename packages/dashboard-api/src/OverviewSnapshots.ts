/**
 * The overview of each org as a snapshot: computed once, encoded once, and served to every request
 * until it is older than its max age (1 s by default) or something it was computed from changes.
 *
 * Change is announced by Postgres: triggers on the change log and on the run history notify
 * `DashboardMigrations.ChangesChannel` after each commit (see there), and this module listens. A
 * commit is seen within milliseconds, so the counts of a snapshot are those of the cache; what only
 * time moves (events of the last 24 hours, changes of the next 24, SLA ages, lag) is at most max age
 * old, and `asOf` in the body says when it was taken. Requests that name their own `asOf` never use
 * a snapshot.
 *
 * A refresh is shared: every request for an org that arrives while its snapshot is being computed
 * waits for that one computation. Past half its max age, a snapshot is refreshed in the background
 * while it is still served, so a steady stream of requests never waits.
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Context, Deferred, Effect, FiberId, FiberSet, Layer, Schedule, Schema, Stream } from "effect"
import { ChangesChannel } from "./DashboardMigrations.js"
import { Overview } from "./Models.js"
import { overview } from "./Overview.js"

export interface Snapshot {
  readonly overview: Overview
  /** The overview's JSON as the API encodes it. */
  readonly body: Uint8Array
  /** Epoch millis when its reads began: what was committed later may be missing from it. */
  readonly takenAt: number
}

export interface OverviewSnapshotsShape {
  /**
   * The org's snapshot if it may be served now, without waiting; undefined otherwise (then `get`).
   * Past half its max age it starts a refresh in the background.
   */
  readonly current: (orgId: string) => Snapshot | undefined
  /** A snapshot that may be served: the current one, or the refresh every waiting caller shares. */
  readonly get: (orgId: string) => Effect.Effect<Snapshot, SqlError>
  /** Forgets every snapshot (as a notification with an empty payload does). */
  readonly invalidateAll: Effect.Effect<void>
}

export class OverviewSnapshots extends Context.Tag("@tidemark/dashboard-api/OverviewSnapshots")<
  OverviewSnapshots,
  OverviewSnapshotsShape
>() {}

export interface Options {
  /** How long a snapshot may be served when nothing changed. Default 1,000 ms; 0 disables snapshots. */
  readonly maxAgeMillis?: number
}

interface OrgState {
  snapshot: Snapshot | undefined
  refreshing: { readonly startedAt: number; readonly done: Deferred.Deferred<Snapshot, SqlError> } | undefined
  invalidatedAt: number
}

const encodeOverview = Schema.encode(Overview)
const utf8 = new TextEncoder()

export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const maxAge = options.maxAgeMillis ?? 1_000
    const states = new Map<string, OrgState>()
    let allInvalidatedAt = 0
    const stateOf = (orgId: string) => {
      let state = states.get(orgId)
      if (state === undefined) {
        state = { snapshot: undefined, refreshing: undefined, invalidatedAt: 0 }
        states.set(orgId, state)
      }
      return state
    }
    const invalidatedAt = (state: OrgState) => Math.max(state.invalidatedAt, allInvalidatedAt)
    const invalidate = (orgId: string) => {
      const now = Date.now()
      if (orgId === "") allInvalidatedAt = now
      else stateOf(orgId).invalidatedAt = now
    }

    const runFork = yield* FiberSet.makeRuntime<SqlClient.SqlClient>()
    const compute = (orgId: string, takenAt: number) =>
      Effect.gen(function*() {
        const value = yield* overview(orgId, new Date(takenAt))
        const encoded = yield* Effect.orDie(encodeOverview(value))
        return { overview: value, body: utf8.encode(JSON.stringify(encoded)), takenAt }
      })

    /** The refresh in flight that started after the last change, or a new one. */
    const refresh = (orgId: string): Deferred.Deferred<Snapshot, SqlError> => {
      const state = stateOf(orgId)
      if (state.refreshing !== undefined && state.refreshing.startedAt > invalidatedAt(state)) {
        return state.refreshing.done
      }
      const startedAt = Date.now()
      const done = Deferred.unsafeMake<Snapshot, SqlError>(FiberId.none)
      const refreshing = { startedAt, done }
      state.refreshing = refreshing
      runFork(compute(orgId, startedAt).pipe(
        Effect.tap((snapshot) =>
          Effect.sync(() => {
            if (state.snapshot === undefined || state.snapshot.takenAt <= snapshot.takenAt) state.snapshot = snapshot
          })
        ),
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.sync(() => {
            if (state.refreshing === refreshing) state.refreshing = undefined
          }).pipe(Effect.zipRight(Deferred.done(done, exit)))
        )
      ))
      return done
    }

    const current = (orgId: string): Snapshot | undefined => {
      if (maxAge <= 0) return undefined
      const state = states.get(orgId)
      const snapshot = state?.snapshot
      if (state === undefined || snapshot === undefined) return undefined
      const age = Date.now() - snapshot.takenAt
      if (snapshot.takenAt <= invalidatedAt(state) || age >= maxAge) return undefined
      if (age >= maxAge / 2 && state.refreshing === undefined) refresh(orgId)
      return snapshot
    }

    const get = (orgId: string): Effect.Effect<Snapshot, SqlError> =>
      Effect.suspend(() => {
        const snapshot = current(orgId)
        return snapshot !== undefined ? Effect.succeed(snapshot) : Deferred.await(refresh(orgId))
      })

    const pg = yield* PgClient.PgClient
    // Notifications sent while the listener is down are lost: so a failure forgets every snapshot,
    // and until the listener is back no snapshot lives longer than its max age.
    yield* pg.listen(ChangesChannel).pipe(
      Stream.runForEach((orgId) => Effect.sync(() => invalidate(orgId))),
      Effect.tapErrorCause((cause) =>
        Effect.sync(() => invalidate("")).pipe(
          Effect.zipRight(Effect.logWarning("overview snapshots: change notifications interrupted, retrying", cause))
        )
      ),
      Effect.retry(Schedule.spaced("1 second")),
      Effect.forkScoped
    )

    return OverviewSnapshots.of({ current, get, invalidateAll: Effect.sync(() => invalidate("")) })
  })

/** Snapshots over the context's Postgres (a `PgClient`, for LISTEN). */
export const layer = (options: Options = {}): Layer.Layer<OverviewSnapshots, never, PgClient.PgClient | SqlClient.SqlClient> =>
  Layer.scoped(OverviewSnapshots, make(options))
