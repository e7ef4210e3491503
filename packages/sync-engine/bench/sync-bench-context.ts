/**
 * What the cases of `bench:sync` share: the Postgres server, the sizes (a tenth with `--quick`), and
 * the two synced caches several cases need (a simulator, a fresh database, a sync node and the full
 * sync that filled it), each built once on first use and kept until the last case that needs it.
 */
import { Effect, Exit, type Redacted, Scope } from "effect"
import * as Harness from "./sync-bench-harness.js"

export interface BenchContext {
  readonly quick: boolean
  readonly adminUrl: Redacted.Redacted
  /** EngineConfig pageSize of the cached full syncs (and the bare ceiling's page); default 2,000. */
  readonly pageSize: number
  /** EngineConfig fullSyncPartitions of every node (`--partitions`); default the engine's. */
  readonly partitions: number | undefined
  /** A full-run size, a tenth of it with `--quick`. */
  readonly size: (full: number) => number
  readonly caches: CachePool
}

export interface SyncedCache {
  readonly label: "big" | "small"
  readonly incidents: number
  readonly simulator: Harness.Simulator
  readonly databaseUrl: Redacted.Redacted
  readonly node: Harness.SyncNode
  /** The full sync (of `incident` and its hard parents) that filled the cache. */
  readonly full: {
    readonly timing: Harness.RunTiming
    /** Peak RSS of the node right after the full sync, in MB. */
    readonly maxRssMb: number
    /** Peaks of its V8 heap (used, reserved) and of memory outside the heap, in MB. */
    readonly heapUsedPeakMb: number
    readonly heapTotalPeakMb: number
    readonly externalPeakMb: number
  }
}

export interface CachePool {
  /** 1,000,000 incidents ("big") or 100,000 ("small"), a tenth with `--quick`. */
  readonly get: (label: "big" | "small") => Effect.Effect<SyncedCache, Error>
  /**
   * Stops the simulators and nodes and drops the databases of the caches made so far. With a reason
   * (a case using them failed or timed out, so a node may still be busy), later `get`s fail with it.
   */
  readonly close: (reason?: string) => Effect.Effect<void>
}

interface PoolOptions {
  readonly adminUrl: Redacted.Redacted
  readonly pageSize: number
  readonly partitions: number | undefined
  readonly size: (full: number) => number
}

const buildCache = (
  options: PoolOptions,
  label: "big" | "small",
  incidents: number
) =>
  Effect.gen(function*() {
    const simulator = yield* Harness.startSimulator({ incidents })
    const database = yield* Harness.freshDatabase(options.adminUrl, `bench_sync_${label}`)
    const node = yield* Harness.startNode({
      databaseUrl: database.url,
      simulator,
      pageSize: options.pageSize,
      ...(options.partitions === undefined ? {} : { partitions: options.partitions })
    })
    const full = yield* Harness.timedRun(node, database.url, {
      runId: `full-${label}`,
      syncType: "full",
      entities: ["incident"]
    })
    const incident = full.timing.entities.get("incident")
    if (incident === undefined || incident.records !== incidents) {
      return yield* Effect.fail(
        new Error(`full sync of the ${label} cache stored ${incident?.records} incidents, expected ${incidents}`)
      )
    }
    yield* Effect.logInfo("cache filled by a full sync").pipe(Effect.annotateLogs({
      cache: label,
      incidents,
      runSeconds: full.timing.seconds,
      incidentSeconds: incident.seconds,
      pages: incident.pages,
      maxRssMb: full.maxRssMb,
      heapUsedPeakMb: full.heapUsedPeakMb,
      heapTotalPeakMb: full.heapTotalPeakMb,
      externalPeakMb: full.externalPeakMb
    }))
    const cache: SyncedCache = { label, incidents, simulator, databaseUrl: database.url, node, full }
    return cache
  })

export const makeCachePool = (options: PoolOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const made = new Map<"big" | "small", SyncedCache>()
    let closedBecause: string | undefined
    const pool: CachePool = {
      get: (label) =>
        Effect.suspend(() => {
          if (closedBecause !== undefined) {
            return Effect.fail(new Error(`the shared ${label} cache is unavailable: ${closedBecause}`))
          }
          const existing = made.get(label)
          if (existing !== undefined) return Effect.succeed(existing)
          const incidents = options.size(label === "big" ? 1_000_000 : 100_000)
          return buildCache(options, label, incidents).pipe(
            Scope.extend(scope),
            Effect.tap((cache) => Effect.sync(() => made.set(label, cache)))
          )
        }),
      close: (reason) =>
        Effect.suspend(() => {
          made.clear()
          closedBecause = reason ?? "closed"
          return Scope.close(scope, Exit.void)
        })
    }
    return pool
  })
