/**
 * How the CLI shows things: plain-text tables for people, JSON (the schemas' encoded form, so dates
 * are ISO strings) for machines.
 */
import { SyncRpc, SyncRun } from "@tidemark/sync-engine"
import { Console, Effect, Schema } from "effect"

/** Left-aligned text, right-aligned numbers, two spaces between columns. */
export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string | number>>
): string => {
  const cells = rows.map((row) => row.map((cell) => typeof cell === "number" ? cell.toLocaleString("en-US") : cell))
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === "number"))
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i]?.length ?? 0)))
  const line = (row: ReadonlyArray<string>) =>
    row.map((cell, i) => numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)).join("  ").trimEnd()
  return [line(headers), ...cells.map(line)].join("\n")
}

export const formatDuration = (millis: number): string => {
  if (millis < 1000) return `${Math.round(millis)}ms`
  if (millis < 60_000) return `${(millis / 1000).toFixed(1)}s`
  const seconds = Math.round(millis / 1000)
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`
}

const between = (from: Date | null, to: Date | null): string =>
  from === null ? "-" : formatDuration((to ?? new Date()).getTime() - from.getTime())

const timestamp = (date: Date | null): string => date === null ? "-" : date.toISOString().replace("T", " ").slice(0, 19)

/** The CLI's name for a sync type: `reconcile` is what people type. */
export const syncTypeLabel = (syncType: SyncRun.SyncType): string =>
  syncType === "reconciliation" ? "reconcile" : syncType

const encodeRun = Schema.encodeSync(SyncRun.Run)
const encodeRuns = Schema.encodeSync(Schema.Array(SyncRun.Run))
const encodePlan = Schema.encodeSync(SyncRpc.PlanResult)

export const printJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))
export const printRunJson = (run: SyncRun.Run) => printJson(encodeRun(run))

export const runsTable = (runs: ReadonlyArray<SyncRun.Run>): string =>
  runs.length === 0
    ? "no runs"
    : table(
      ["RUN ID", "ORG", "ADAPTER", "TYPE", "STATUS", "ENTITIES", "RECORDS", "REQUESTED (UTC)", "DURATION"],
      runs.map((run) => [
        run.runId,
        run.orgId,
        run.adapter,
        syncTypeLabel(run.syncType),
        run.status,
        `${run.entityRuns.filter((e) => e.status === "succeeded").length}/${run.entityRuns.length}`,
        run.entityRuns.reduce((sum, e) => sum + e.records, 0),
        timestamp(run.requestedAt),
        between(run.startedAt, run.finishedAt)
      ])
    )

export const printRuns = (runs: ReadonlyArray<SyncRun.Run>, json: boolean) =>
  json ? printJson(encodeRuns(runs)) : Console.log(runsTable(runs))

export const runDetails = (run: SyncRun.Run): string => {
  const header = [
    `run       ${run.runId}`,
    `status    ${run.status}${run.error === null ? "" : `: ${run.error}`}`,
    `sync      ${syncTypeLabel(run.syncType)} of ${run.orgId}/${run.adapter}` +
    (run.entities === null ? "" : ` (asked for ${run.entities.join(", ")})`),
    `requested ${timestamp(run.requestedAt)} UTC`,
    `started   ${timestamp(run.startedAt)}`,
    `finished  ${timestamp(run.finishedAt)}`,
    `duration  ${between(run.startedAt, run.finishedAt)}`
  ]
  const entities = table(
    ["ENTITY", "LEVEL", "STATUS", "PAGES", "RECORDS", "INSERTED", "UPDATED", "DELETED", "DEAD", "DURATION", "NOTE"],
    run.entityRuns.map((e) => [
      e.entity,
      e.level + 1,
      e.status,
      e.pages,
      e.records,
      e.inserted,
      e.updated,
      e.deleted,
      e.deadLetters,
      between(e.startedAt, e.finishedAt),
      e.error ?? e.reason ?? ""
    ])
  )
  return `${header.join("\n")}\n\n${entities}`
}

export const printRun = (run: SyncRun.Run, json: boolean) => json ? printRunJson(run) : Console.log(runDetails(run))

export const printPlan = (plan: SyncRpc.PlanResult, json: boolean) =>
  Effect.suspend(() => {
    if (json) return printJson(encodePlan(plan))
    const lines = [`plan for adapter ${plan.adapter}: ${plan.levels.flat().length} entities in ${plan.levels.length} levels`]
    plan.levels.forEach((level, i) => lines.push(`  level ${i + 1}: ${level.join(", ")}`))
    const dropped = plan.graph.droppedEdges.filter((edge) => edge.reason !== "shadowed-by-hard")
    if (dropped.length > 0) {
      lines.push("", "soft references left out of the ordering:")
      for (const edge of dropped) lines.push(`  ${edge.message}`)
    }
    lines.push("", "mermaid:", plan.mermaid)
    return Console.log(lines.join("\n"))
  })
