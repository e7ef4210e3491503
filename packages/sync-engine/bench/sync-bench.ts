/**
 * bench:sync — the sync engine end to end (simulator as its own process, the ITSM adapter, the
 * single-node cluster runtime, Postgres with real durability settings), each case against a baseline
 * measured in the same run. One JSON line per case on stdout; diagnostics on stderr.
 *
 *   pnpm bench:sync [--quick] [--case sync.full[,sync.memory…]] [--page-size 2000] [--partitions N]
 *
 * - sync.full            full sync of 1M incidents: engine rows/s against a bare unnest upsert of the same rows
 * - sync.delta_scaling   10,000 updates by delta into a 1M-row cache against a 100k-row cache (wall-time ratio, median of 5)
 * - sync.memory          peak RSS of the node process syncing 1M incidents against 100k
 * - sync.latency_hiding  20,000 incidents, pages of 100, 500 ms latency, 10 requests/s: wall time against the budget
 * - sync.page_overhead   ms of durable bookkeeping per page (pages of 50 against pages of 2,000, 3 rounds; and from spans)
 *
 * `--quick` divides every size by ten; `--page-size` is the EngineConfig pageSize of the full and delta
 * syncs (and the bare ceiling's page); `--partitions` their fullSyncPartitions (default: the engine's).
 * Postgres is an embedded server in a temporary folder unless `DATABASE_URL` is set; every case gets
 * fresh databases (delta and memory reuse the caches the full syncs filled, see
 * `sync-bench-context.ts`). Every child process is killed by PID when its case ends, and a case that
 * runs past its time limit is cut off and reported as failed (exit code 1).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Duration, Effect, Exit, Logger } from "effect"
import { cases } from "./sync-bench-cases.js"
import { type BenchContext, makeCachePool } from "./sync-bench-context.js"
import * as Harness from "./sync-bench-harness.js"

const argument = (name: string): ReadonlyArray<string> =>
  process.argv.flatMap((arg, i) =>
    arg === name && process.argv[i + 1] !== undefined
      ? [process.argv[i + 1]!]
      : arg.startsWith(`${name}=`)
      ? [arg.slice(name.length + 1)]
      : []
  )

const quick = process.argv.includes("--quick")
const pageSize = Number(argument("--page-size")[0] ?? 2000)
const partitionsArgument = argument("--partitions")[0]
const partitions = partitionsArgument === undefined ? undefined : Number(partitionsArgument)
/** A case that takes longer is cut off (and reported failed), so one stuck sync never holds the run forever. */
const caseTimeout = Duration.minutes(quick ? 5 : 20)
const wanted = argument("--case").flatMap((names) => names.split(",")).filter((name) => name !== "")

const program = Effect.gen(function*() {
  const unknown = wanted.filter((name) => !cases.some((c) => c.name === name))
  const positive = (n: number | undefined) => n === undefined || (Number.isInteger(n) && n > 0)
  if (unknown.length > 0 || !positive(pageSize) || !positive(partitions)) {
    yield* Effect.logError(
      `unknown case ${unknown.join(", ")} or bad --page-size/--partitions (cases: ${cases.map((c) => c.name).join(", ")})`
    )
    return 1
  }
  const selected = cases.filter((c) => wanted.length === 0 || wanted.includes(c.name))
  const started = performance.now()
  const adminUrl = yield* Harness.adminDatabaseUrl
  const size = (full: number) => (quick ? Math.round(full / 10) : full)
  const caches = yield* makeCachePool({ adminUrl, pageSize, partitions, size })
  const context: BenchContext = { quick, adminUrl, pageSize, partitions, size, caches }
  const lastCacheCase = selected.findLastIndex((c) => c.usesCaches)
  let failures = 0
  for (const [index, benchCase] of selected.entries()) {
    const caseStarted = performance.now()
    yield* Effect.logInfo("case started").pipe(Effect.annotateLogs({ case: benchCase.name, quick }))
    const exit = yield* benchCase.run(context).pipe(
      Effect.timeoutFail({
        duration: caseTimeout,
        onTimeout: () => new Error(`${benchCase.name} did not finish within ${Duration.format(caseTimeout)}`)
      }),
      Effect.exit
    )
    if (Exit.isSuccess(exit)) {
      yield* Effect.sync(() => process.stdout.write(`${JSON.stringify(exit.value)}\n`))
    } else {
      failures += 1
      yield* Effect.logError(`case ${benchCase.name} failed\n${Cause.pretty(exit.cause, { renderErrorCause: true })}`)
      // A node of the shared caches may still be running the failed case's sync: never reuse them.
      if (benchCase.usesCaches) yield* caches.close(`${benchCase.name} failed`)
    }
    yield* Effect.logInfo("case finished").pipe(Effect.annotateLogs({
      case: benchCase.name,
      seconds: Harness.seconds(performance.now() - caseStarted)
    }))
    if (index === lastCacheCase) yield* caches.close()
  }
  yield* Effect.logInfo("bench finished").pipe(Effect.annotateLogs({
    seconds: Harness.seconds(performance.now() - started),
    failures
  }))
  return failures
}).pipe(
  Effect.scoped,
  // Any failure outside a case (Postgres did not start) is reported here, on stderr, with exit code 1.
  Effect.catchAllCause((cause) =>
    Effect.as(Effect.logError(`bench:sync failed\n${Cause.pretty(cause, { renderErrorCause: true })}`), 1)
  ),
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))
)

// runMain interrupts the program on SIGINT/SIGTERM, so every scope closes and every child is killed.
NodeRuntime.runMain(program, {
  disablePrettyLogger: true,
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) && exit.value === 0 ? 0 : 1)
})
