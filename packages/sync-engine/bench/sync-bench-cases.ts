/**
 * The cases of `bench:sync`. Each returns its JSON line; each measures its baseline in the same run.
 * Sizes are the full run's; `--quick` divides every one by ten (`context.size`).
 */
import { ItsmEntities, TableApiAdapter } from "@tidemark/itsm-adapter"
import { Effect } from "effect"
import * as CacheTables from "../src/CacheTables.js"
import * as EngineConfig from "../src/EngineConfig.js"
import { bareUpsertCeiling } from "./sync-bench-bare.js"
import type { BenchContext, SyncedCache } from "./sync-bench-context.js"
import * as Harness from "./sync-bench-harness.js"
import { ORG } from "./sync-bench-protocol.js"

export interface BenchCase {
  readonly name: string
  /** Uses the shared big/small caches (closed after the last such case). */
  readonly usesCaches: boolean
  readonly run: (context: BenchContext) => Effect.Effect<Record<string, unknown>, Error>
}

const incidentOf = (timing: Harness.RunTiming) => {
  const incident = timing.entities.get("incident")
  if (incident === undefined || incident.seconds === null) {
    return Effect.fail(new Error(`run ${timing.runId} has no finished incident entity run`))
  }
  return Effect.succeed({ ...incident, seconds: incident.seconds })
}

/**
 * Engine rows/s of a full sync of 1M incidents (wall time of the incident entity run, from the history)
 * against a bare unnest upsert of the same rows in pages of the same size.
 */
const syncFull: BenchCase = {
  name: "sync.full",
  usesCaches: true,
  run: (context) =>
    Effect.gen(function*() {
      const big = yield* context.caches.get("big")
      const incident = yield* incidentOf(big.full.timing)
      const table = CacheTables.describe(TableApiAdapter.ADAPTER_NAME, ItsmEntities.itsmManifest.byName.get("incident")!)
      const bare = yield* Harness.withSql(
        big.databaseUrl,
        bareUpsertCeiling({ orgId: ORG, table, pageSize: context.pageSize })
      )
      if (bare.records !== incident.records) {
        return yield* Effect.fail(new Error(`bare upsert copied ${bare.records} rows, the engine stored ${incident.records}`))
      }
      const engineRps = incident.records / incident.seconds
      const bareRps = bare.records / bare.seconds
      return {
        bench: "sync.full",
        records: incident.records,
        engine_rps: Math.round(engineRps),
        bare_rps: Math.round(bareRps),
        ratio: Harness.round(engineRps / bareRps),
        page_size: context.pageSize,
        partitions: context.partitions ?? EngineConfig.defaults.fullSyncPartitions,
        engine_seconds: Harness.round(incident.seconds, 1),
        bare_seconds: Harness.round(bare.seconds, 1)
      }
    })
}

/** Advances the simulator clock past the lookback, makes `changes` updates, and syncs them by a delta. */
const delta = (cache: SyncedCache, changes: number, runId: string) =>
  Effect.gen(function*() {
    yield* Harness.advanceClock(cache.simulator, 600)
    const mutation = yield* Harness.mutateUpdates(cache.simulator, "incident", changes)
    const { timing } = yield* Harness.timedRun(cache.node, cache.databaseUrl, {
      runId,
      syncType: "delta",
      entities: ["incident"]
    })
    const incident = yield* incidentOf(timing)
    if (incident.updated + incident.inserted < mutation.updated) {
      return yield* Effect.fail(
        new Error(`delta ${runId} applied ${incident.updated} updates, the source made ${mutation.updated}`)
      )
    }
    return { timing, incident }
  })

/**
 * One timed delta of `changes` updates. A delta re-reads the lookback (2 minutes) before its
 * watermark, which is the cursor of the last change it saw: so that the timed delta reads this
 * round's changes and not also the last round's, a one-record delta first moves the watermark on.
 */
const deltaRound = (cache: SyncedCache, changes: number, round: number | string, afterCheckpoint = false) =>
  Effect.gen(function*() {
    yield* delta(cache, 1, `settle-${cache.label}-${round}`)
    if (afterCheckpoint) yield* Harness.withSql(cache.databaseUrl, Harness.checkpoint)
    const { incident, timing } = yield* delta(cache, changes, `delta-${cache.label}-${round}`)
    yield* Effect.logInfo("delta").pipe(Effect.annotateLogs({
      cache: cache.label,
      round,
      seconds: timing.seconds,
      incidentSeconds: incident.seconds,
      records: incident.records,
      updated: incident.updated,
      pages: incident.pages
    }))
    return timing.seconds
  })

/**
 * 10,000 updates synced by a delta into a 1M-row cache against the same into a 100k-row cache: one
 * untimed round each first (the first delta after a full sync shares the machine with the flush of
 * that sync's writes, which the 1M cache, built first, had just made), then seven rounds,
 * alternating which cache goes first; medians (a checkpoint falling in a round moves it by a third;
 * `checkpoints_during_rounds` counts them).
 */
const DELTA_ROUNDS = 7

/**
 * Then, for the record and not the target, five rounds each right after a CHECKPOINT: every page a
 * delta touches then logs its whole image first, the most a delta can cost between checkpoints, and
 * more pages for the larger table (its changes are spread over ten times the pages).
 */
const AFTER_CHECKPOINT_ROUNDS = 5

const syncDeltaScaling: BenchCase = {
  name: "sync.delta_scaling",
  usesCaches: true,
  run: (context) =>
    Effect.gen(function*() {
      const big = yield* context.caches.get("big")
      const small = yield* context.caches.get("small")
      const changes = context.size(10_000)
      const warmup = { big: yield* deltaRound(big, changes, "warmup"), small: yield* deltaRound(small, changes, "warmup") }
      const timed = { big: [] as Array<number>, small: [] as Array<number> }
      const checkpointsBefore = yield* Harness.withSql(big.databaseUrl, Harness.checkpointsBegun)
      for (let round = 0; round < DELTA_ROUNDS; round++) {
        for (const cache of round % 2 === 0 ? [big, small] : [small, big]) {
          timed[cache.label].push(yield* deltaRound(cache, changes, round))
        }
      }
      const checkpointsAfter = yield* Harness.withSql(big.databaseUrl, Harness.checkpointsBegun)
      const afterCheckpoint = { big: [] as Array<number>, small: [] as Array<number> }
      for (let round = 0; round < AFTER_CHECKPOINT_ROUNDS; round++) {
        for (const cache of round % 2 === 0 ? [big, small] : [small, big]) {
          afterCheckpoint[cache.label].push(yield* deltaRound(cache, changes, `checkpoint-${round}`, true))
        }
      }
      const afterCheckpointRatio = Harness.median(afterCheckpoint.big) / Harness.median(afterCheckpoint.small)
      const bigSeconds = Harness.median(timed.big)
      const smallSeconds = Harness.median(timed.small)
      return {
        bench: "sync.delta_scaling",
        big_rows: big.incidents,
        small_rows: small.incidents,
        changes,
        big_seconds: Harness.round(bigSeconds),
        small_seconds: Harness.round(smallSeconds),
        ratio: Harness.round(bigSeconds / smallSeconds),
        big_rounds: timed.big.map((seconds) => Harness.round(seconds, 2)),
        small_rounds: timed.small.map((seconds) => Harness.round(seconds, 2)),
        warmup_seconds: [Harness.round(warmup.big, 2), Harness.round(warmup.small, 2)],
        checkpoints_during_rounds: checkpointsAfter - checkpointsBefore,
        after_checkpoint_ratio: Harness.round(afterCheckpointRatio),
        after_checkpoint_big_rounds: afterCheckpoint.big.map((seconds) => Harness.round(seconds, 2)),
        after_checkpoint_small_rounds: afterCheckpoint.small.map((seconds) => Harness.round(seconds, 2))
      }
    })
}

/** Peak RSS of the node process that ran the 1M full sync against the one that ran the 100k full sync. */
const syncMemory: BenchCase = {
  name: "sync.memory",
  usesCaches: true,
  run: (context) =>
    Effect.gen(function*() {
      const big = yield* context.caches.get("big")
      const small = yield* context.caches.get("small")
      return {
        bench: "sync.memory",
        big_rows: big.incidents,
        small_rows: small.incidents,
        big_peak_mb: big.full.maxRssMb,
        small_peak_mb: small.full.maxRssMb,
        ratio: Harness.round(big.full.maxRssMb / small.full.maxRssMb)
      }
    })
}

/**
 * A full sync on a node of its own with its own fresh database; its timing, with the timeline and the
 * balance of its partitions on stderr.
 */
const isolatedFull = (
  context: BenchContext,
  options: {
    readonly simulator: Harness.Simulator
    readonly label: string
    readonly pageSize: number
    readonly partitions: number | undefined
    readonly rateLimitRps?: number
  }
) =>
  Effect.scoped(Effect.gen(function*() {
    const database = yield* Harness.freshDatabase(context.adminUrl, `bench_sync_${options.label}`)
    const node = yield* Harness.startNode({
      databaseUrl: database.url,
      simulator: options.simulator,
      pageSize: options.pageSize,
      ...(options.rateLimitRps === undefined ? {} : { rateLimitRps: options.rateLimitRps }),
      ...(options.partitions === undefined ? {} : { partitions: options.partitions })
    })
    const runId = `full-${options.label}`
    const { pages, timing } = yield* Harness.timedRun(node, database.url, { runId, syncType: "full", entities: ["incident"] })
    const incident = yield* incidentOf(timing)
    const partitions = options.partitions ?? EngineConfig.defaults.fullSyncPartitions
    const balance = yield* Harness.withSql(database.url, Harness.partitionBalance(runId, "incident", partitions))
    yield* Effect.logInfo("full sync").pipe(Effect.annotateLogs({
      label: options.label,
      runSeconds: timing.seconds,
      incidentSeconds: incident.seconds,
      records: incident.records,
      pages: incident.pages,
      timeline: Harness.timeline(timing),
      partitions: balance
    }))
    const sync: Harness.FullSync = { timing, incident, pages }
    return sync
  }))

/**
 * 20,000 incidents in pages of 100 behind 500 ms of latency per call, with an adapter budget of 10
 * requests/s: the run's wall time against what the budget alone allows (Table API requests / 10).
 */
const syncLatencyHiding: BenchCase = {
  name: "sync.latency_hiding",
  usesCaches: false,
  run: (context) =>
    Effect.scoped(Effect.gen(function*() {
      const incidents = context.size(20_000)
      const requestsPerSecond = 10
      const simulator = yield* Harness.startSimulator({ incidents, latencyMs: 500 })
      const { incident, timing } = yield* isolatedFull(context, {
        simulator,
        label: "latency",
        pageSize: 100,
        partitions: context.partitions,
        rateLimitRps: requestsPerSecond
      })
      const requests = yield* Harness.tableRequests(simulator)
      const lowerBound = requests.length / requestsPerSecond
      return {
        bench: "sync.latency_hiding",
        records: incident.records,
        page_size: 100,
        partitions: context.partitions ?? EngineConfig.defaults.fullSyncPartitions,
        latency_ms: 500,
        requests_per_second: requestsPerSecond,
        requests: requests.length,
        incident_requests: requests.filter((request) => request.table === "incident").length,
        seconds: Harness.round(timing.seconds, 2),
        incident_seconds: Harness.round(incident.seconds, 2),
        lower_bound_seconds: Harness.round(lowerBound, 2),
        ratio: Harness.round(timing.seconds / lowerBound)
      }
    }))
}

/**
 * The per-page cost of durability (the activity and its journal, the page's history row, the cursor):
 * 20,000 incidents synced by one partition (whatever `--partitions` says: with parallel partitions
 * the cost of a page overlaps others, and a difference would measure the overlap) in pages of 50 and
 * in pages of 2,000, each sync on a fresh database and node, three rounds alternating which goes
 * first. Two measures:
 * - `ms_per_page`: (t_tiny - t_big) / (pages_tiny - pages_big) of the incident entity runs, per
 *   round, median. Both move the same rows; the big pages are the engine's default size, so neither
 *   carries costs of its own that the other lacks (pages of 10,000 did: the difference went negative).
 * - `direct_ms_per_page`: in the tiny-page syncs, each page's durable activity call less its wait for
 *   the page, its wait for the page before it to commit (`previous_ms`) and its SQL statement
 *   (`write_ms`), from the engine's spans; median over all their pages. Its main parts: `journal_ms`
 *   (the call less the activity's own execution: the workflow's message and reply, persisted) and
 *   `parents_ms` (the query for hard parents the cache lacks). The history row, cursor and dead
 *   letters are parts of the page's one statement, inside `write_ms`: only the difference sees what
 *   they add. A partition's page activities overlap (three in flight), so these are latencies, most
 *   of them hidden behind the page before: `ms_per_page` is what a page costs the sync.
 */
const syncPageOverhead: BenchCase = {
  name: "sync.page_overhead",
  usesCaches: false,
  run: (context) =>
    Effect.scoped(Effect.gen(function*() {
      const incidents = context.size(20_000)
      const tinyPageSize = 50
      const bigPageSize = 2000
      const rounds = 3
      const simulator = yield* Harness.startSimulator({ incidents })
      const timed = { tiny: [] as Array<Harness.FullSync>, big: [] as Array<Harness.FullSync> }
      for (let round = 0; round < rounds; round++) {
        for (const size of round % 2 === 0 ? ["tiny", "big"] as const : ["big", "tiny"] as const) {
          timed[size].push(
            yield* isolatedFull(context, {
              simulator,
              label: `pages_${size}_${round}`,
              pageSize: size === "tiny" ? tinyPageSize : bigPageSize,
              partitions: 1
            })
          )
        }
      }
      const perRound = timed.tiny.map((tiny, i) => {
        const big = timed.big[i]!
        return ((tiny.incident.seconds - big.incident.seconds) * 1000) / (tiny.incident.pages - big.incident.pages)
      })
      const tinyPages = timed.tiny.flatMap((sync) => sync.pages.filter((page) => page.entity === "incident"))
      const medianOf = (f: (page: (typeof tinyPages)[number]) => number) => Harness.round(Harness.median(tinyPages.map(f)), 2)
      return {
        bench: "sync.page_overhead",
        records: timed.tiny[0]!.incident.records,
        partitions: 1,
        rounds,
        tiny_page_size: tinyPageSize,
        tiny_pages: timed.tiny[0]!.incident.pages,
        big_page_size: bigPageSize,
        big_pages: timed.big[0]!.incident.pages,
        tiny_seconds: Harness.round(Harness.median(timed.tiny.map((sync) => sync.incident.seconds)), 2),
        big_seconds: Harness.round(Harness.median(timed.big.map((sync) => sync.incident.seconds)), 2),
        ms_per_page: Harness.round(Harness.median(perRound), 2),
        ms_per_page_rounds: perRound.map((ms) => Harness.round(ms, 2)),
        direct_ms_per_page: medianOf((page) => page.activityMs - page.waitMs - page.previousMs - page.writeMs),
        journal_ms: medianOf((page) => page.activityMs - page.executeMs),
        parents_ms: medianOf((page) => page.parentsMs),
        wait_ms: medianOf((page) => page.waitMs),
        write_ms: medianOf((page) => page.writeMs),
        previous_ms: medianOf((page) => page.previousMs),
        target_ms: 10
      }
    }))
}

export const cases: ReadonlyArray<BenchCase> = [
  syncFull,
  syncDeltaScaling,
  syncMemory,
  syncLatencyHiding,
  syncPageOverhead
]
