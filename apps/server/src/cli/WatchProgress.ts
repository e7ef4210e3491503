/**
 * Watching a run: live progress bars on a terminal, one line per event when stdout is a pipe or a
 * file (CI logs, tests), or the events themselves as NDJSON with `--json`.
 */
import { SyncRpc, SyncRun } from "@tidemark/sync-engine"
import CliProgress from "cli-progress"
import { Console, Effect, Schema, type Scope, Stream } from "effect"
import { formatDuration, syncTypeLabel } from "./Output.js"

export type WatchMode = "bars" | "lines" | "json"

export const watchModeFor = (json: boolean): WatchMode => json ? "json" : process.stdout.isTTY ? "bars" : "lines"

/** The watched run ended, but not as `succeeded`: scripts that wait on a run see it in the exit code. */
export class RunNotSucceededError extends Schema.TaggedError<RunNotSucceededError>()("RunNotSucceededError", {
  runId: Schema.String,
  status: SyncRun.RunStatus,
  error: Schema.NullOr(Schema.String),
  unsuccessful: Schema.Array(Schema.String)
}) {
  override get message() {
    return `run ${this.runId} ended ${this.status}` +
      (this.unsuccessful.length > 0 ? ` (not succeeded: ${this.unsuccessful.join(", ")})` : "") +
      (this.error === null ? "" : `: ${this.error}`)
  }
}

interface EntityProgress {
  readonly entity: string
  state: SyncRun.EntityRunStatus
  records: number
  pages: number
  /** Epoch millis; the server's when it knows, this client's clock otherwise. */
  startedAt: number | undefined
  finishedAt: number | undefined
}

const isTerminal = (state: SyncRun.EntityRunStatus) => state !== "pending" && state !== "running"

const rateOf = (progress: EntityProgress, now: number): string => {
  if (progress.startedAt === undefined || progress.records === 0) return "-"
  const seconds = ((progress.finishedAt ?? now) - progress.startedAt) / 1000
  return seconds <= 0 ? "-" : `${Math.round(progress.records / seconds).toLocaleString("en-US")}/s`
}

const fromEntityRun = (entityRun: SyncRun.EntityRun): EntityProgress => ({
  entity: entityRun.entity,
  state: entityRun.status,
  records: entityRun.records,
  pages: entityRun.pages,
  startedAt: entityRun.startedAt?.getTime(),
  finishedAt: entityRun.finishedAt?.getTime()
})

interface Renderer {
  readonly onEvent: (event: SyncRun.ProgressEvent, progress: EntityProgress | undefined) => Effect.Effect<void>
  /** Called once with the run as stored after it ended. */
  readonly onEnd: (run: SyncRun.Run) => Effect.Effect<void>
}

const linesRenderer: Renderer = {
  onEvent: (event, progress) => {
    switch (event._tag) {
      case "EntityStarted":
        return Console.log(`${event.entity}: started${event.node === null ? "" : ` on ${event.node}`}`)
      case "PageCommitted":
        return Console.log(
          `${event.entity}: page ${event.pageNo}, ${event.records} records (${progress?.records ?? event.records} so far)`
        )
      case "EntityFinished":
        return Console.log(
          `${event.entity}: ${event.status}, ${event.records} records in ${event.pages} pages` +
            (event.reason === null ? "" : ` (${event.reason})`)
        )
      case "RunFinished":
        return Effect.void
    }
  },
  onEnd: () => Effect.void
}

/** The closing lines under the bars or the event lines: the outcome, and why entities did not succeed. */
const summary = (ended: SyncRun.Run, withEntityNotes: boolean): string =>
  [
    `run ${ended.runId} ${ended.status}` +
    (ended.startedAt === null || ended.finishedAt === null
      ? ""
      : ` in ${formatDuration(ended.finishedAt.getTime() - ended.startedAt.getTime())}`) +
    (ended.error === null ? "" : `: ${ended.error}`),
    ...(withEntityNotes
      ? ended.entityRuns.flatMap((e) =>
        e.error === null && e.reason === null ? [] : [`  ${e.entity} ${e.status}: ${e.error ?? e.reason}`]
      )
      : [])
  ].join("\n")

const jsonRenderer: Renderer = {
  onEvent: (event) => Console.log(JSON.stringify(event)),
  onEnd: () => Effect.void
}

interface BarPayload {
  readonly label: string
  readonly text: string
}

/** One bar for the run (entities finished of all), then one per entity in level order. */
const barsRenderer = (
  run: SyncRun.Run,
  entities: Map<string, EntityProgress>
): Effect.Effect<Renderer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const labelWidth = Math.max(5, ...[...entities.keys()].map((name) => name.length))
    const bars = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new CliProgress.MultiBar({
          stream: process.stdout,
          hideCursor: true,
          clearOnComplete: false,
          // Our scope stops the bars on interruption; cli-progress's own signal handlers would race it.
          gracefulExit: false,
          // Sized for an 80-column terminal: longer lines are cut, not wrapped.
          barsize: 16,
          format: (options, params, payload: BarPayload) =>
            `${payload.label.padEnd(labelWidth)} ${CliProgress.Format.BarFormat(params.progress, options)} ${payload.text}`
        }, CliProgress.Presets.shades_classic)
      ),
      (bars) => Effect.sync(() => bars.stop())
    )
    const startedAt = run.startedAt?.getTime() ?? Date.now()
    const totalText = (status: string, now: number) => {
      const all = [...entities.values()]
      const done = all.filter((e) => isTerminal(e.state)).length
      const records = all.reduce((sum, e) => sum + e.records, 0)
      return `${done}/${all.length} done ${records.toLocaleString("en-US").padStart(9)} rec  ` +
        `${formatDuration(now - startedAt)}  ${status}`
    }
    // Notes (why an entity was skipped or failed) are printed in full under the bars at the end.
    const entityText = (progress: EntityProgress, now: number) =>
      `${progress.state.padEnd(9)} ${progress.records.toLocaleString("en-US").padStart(9)} rec ` +
      `${String(progress.pages).padStart(4)} pg ${rateOf(progress, now).padStart(8)}`
    const totalBar = bars.create(entities.size, 0, { label: "total", text: totalText(run.status, Date.now()) })
    const entityBars = new Map(
      [...entities.values()].map((progress) => [
        progress.entity,
        bars.create(1, isTerminal(progress.state) ? 1 : 0, {
          label: progress.entity,
          text: entityText(progress, Date.now())
        })
      ])
    )
    const redraw = (status: string, now: number) => {
      for (const progress of entities.values()) {
        entityBars.get(progress.entity)?.update(isTerminal(progress.state) ? 1 : 0, {
          label: progress.entity,
          text: entityText(progress, now)
        })
      }
      const done = [...entities.values()].filter((e) => isTerminal(e.state)).length
      totalBar.update(done, { label: "total", text: totalText(status, now) })
    }
    return {
      onEvent: () => Effect.sync(() => redraw("running", Date.now())),
      onEnd: (ended) =>
        Effect.sync(() => {
          for (const entityRun of ended.entityRuns) entities.set(entityRun.entity, fromEntityRun(entityRun))
          redraw(ended.status, ended.finishedAt?.getTime() ?? Date.now())
        })
    }
  })

/**
 * Follows a run until it ends and returns it as stored then. Entity counts come from the events;
 * the final figures (and timings for rates) come from the run itself.
 */
export const watchRun = (runId: string, mode: WatchMode) =>
  Effect.gen(function*() {
    const client = yield* SyncRpc.SyncRpcClient
    const run = yield* client.GetRun({ runId })
    const entities = new Map(run.entityRuns.map((entityRun) => {
      const progress = fromEntityRun(entityRun)
      // Pages committed before we joined arrive again as events; count them once, from there.
      progress.records = 0
      progress.pages = 0
      return [entityRun.entity, progress] as const
    }))
    if (mode !== "json") {
      yield* Console.log(
        `watching run ${run.runId}: ${syncTypeLabel(run.syncType)} sync of ${run.orgId}/${run.adapter}, ` +
          `${run.entityRuns.length} entities in ${run.levels.length} levels`
      )
    }
    const renderer = mode === "bars"
      ? yield* barsRenderer(run, entities)
      : mode === "lines"
      ? linesRenderer
      : jsonRenderer
    yield* client.WatchRun({ runId }).pipe(
      Stream.runForEach((event) => {
        const progress = event._tag === "RunFinished" ? undefined : entities.get(event.entity)
        if (progress !== undefined) {
          switch (event._tag) {
            case "EntityStarted":
              progress.state = "running"
              progress.startedAt ??= Date.now()
              break
            case "PageCommitted":
              progress.records += event.records
              progress.pages += 1
              break
            case "EntityFinished":
              progress.state = event.status
              progress.records = event.records
              progress.pages = event.pages
              progress.finishedAt ??= Date.now()
              break
          }
        }
        return renderer.onEvent(event, progress)
      })
    )
    const ended = yield* client.GetRun({ runId })
    yield* renderer.onEnd(ended)
    return ended
  }).pipe(
    Effect.scoped,
    Effect.tap((ended) => mode === "json" ? Effect.void : Console.log(summary(ended, mode === "bars"))),
    Effect.onInterrupt(() =>
      Console.error(`stopped watching; run ${runId} goes on (stop it with: tidemark cancel ${runId})`)
    )
  )

/** Fails with `RunNotSucceededError` unless the run succeeded. */
export const requireSucceeded = (run: SyncRun.Run) =>
  run.status === "succeeded" ? Effect.succeed(run) : Effect.fail(
    new RunNotSucceededError({
      runId: run.runId,
      status: run.status,
      error: run.error,
      unsuccessful: run.entityRuns.filter((e) => e.status !== "succeeded").map((e) => `${e.entity} ${e.status}`)
    })
  )
