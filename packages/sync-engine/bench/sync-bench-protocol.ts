/**
 * What `bench:sync` and its sync node processes (`sync-bench-node.ts`) say to each other: commands as
 * JSON lines on the node's stdin, answers as JSON lines on its stdout behind a marker (the node's other
 * stdout lines are logs).
 */
import { Schema } from "effect"
import { SyncType } from "../src/SyncRun.js"
import type { PageTiming } from "./sync-bench-spans.js"

export const ORG = "acme"
export const MARKER = "@@bench "

export const RunCommand = Schema.Struct({
  runId: Schema.String,
  syncType: SyncType,
  entities: Schema.optional(Schema.Array(Schema.String))
})
export type RunCommand = typeof RunCommand.Type

/** The answer to a command, once its run has ended (or could not start: `status: "error"`). */
export interface RunReply {
  readonly runId: string | null
  readonly status: string
  readonly error: string | null
  /** The node's peak RSS so far, `process.resourceUsage().maxRSS`, in MB. */
  readonly maxRssMb: number
  /** Peaks of the node's V8 heap (used, reserved) and of memory outside it, sampled every 100 ms, in MB. */
  readonly heapUsedPeakMb: number
  readonly heapTotalPeakMb: number
  readonly externalPeakMb: number
  /** Each page activity of the run, its time split by the engine's spans. */
  readonly pages: ReadonlyArray<PageTiming>
}
