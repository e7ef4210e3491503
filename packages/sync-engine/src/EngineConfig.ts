/** Settings of the sync engine, with their defaults. */
import { Context, Duration, Layer } from "effect"
import * as Os from "node:os"

export interface EngineConfigShape {
  /** Records per page requested from the source; default 2,000 (an activity costs ~13 ms: pages must be large). */
  readonly pageSize: number
  /** How far a delta steps back before the watermark (late commits, clock skew); default 2 minutes. */
  readonly lookback: Duration.Duration
  /** This node's name in the run history; default hostname:pid. */
  readonly nodeName: string
  /**
   * A full sync reads an entity as this many disjoint cursor ranges in parallel, so that source
   * latency overlaps and the rate budget, not the round trip, limits it: it takes about latency ×
   * requests-per-second streams to fill the budget (500 ms × 10/s = 5). Default 8; 1 turns it off.
   */
  readonly fullSyncPartitions: number
  /**
   * Rows (requested page sizes) a node holds at once over all its page activities and prefetches:
   * what bounds its memory however many partitions and entities run. Pages wait for room before
   * they are fetched. Default 4,000 (two pages of 2,000: one written while the next is fetched).
   * With 8,000 the node's peak RSS in a 1M-row full sync was 1.26–1.32 times the 100k-row one's
   * (V8's heap grows its collection threshold over a long run), 1.15–1.17 with 4,000, at the same
   * throughput against a fast source. Behind a slow source, keeping the rate budget busy takes about
   * latency × requests/s pages in flight (500 ms × 10/s = 5): raise it to that many pages and two
   * more when pages are large (`MAX_ROWS_IN_FLIGHT` on the server), or use smaller pages.
   */
  readonly maxRowsInFlight: number
  /** How often `watchRun` polls the history; default 250 ms. */
  readonly watchInterval: Duration.Duration
}

export class EngineConfig extends Context.Tag("@tidemark/sync-engine/EngineConfig")<EngineConfig, EngineConfigShape>() {}

export const defaults: EngineConfigShape = {
  pageSize: 2000,
  lookback: Duration.minutes(2),
  fullSyncPartitions: 8,
  maxRowsInFlight: 4000,
  nodeName: `${Os.hostname()}:${process.pid}`,
  watchInterval: Duration.millis(250)
}

export const layer = (overrides: Partial<EngineConfigShape> = {}) =>
  Layer.succeed(EngineConfig, { ...defaults, ...overrides })
