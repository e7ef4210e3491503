/**
 * The `tidemark` commands, each a client of the engine's RPC group (`SyncRpc`):
 *
 *   tidemark [--url URL] sync full|delta|reconcile [--entities a,b] [--org ORG] [--adapter A] [--run-id ID] [--watch]
 *   tidemark [--url URL] runs list [--org ORG] [--status S] [--limit N]
 *   tidemark [--url URL] runs show ID
 *   tidemark [--url URL] runs watch ID
 *   tidemark [--url URL] cancel ID
 *   tidemark [--url URL] plan [--adapter A] [--entities a,b]
 *
 * Every leaf takes `--json`. `--url` comes before the command, as the root's option.
 */
import { Args, CliConfig, Command, HelpDoc, Options } from "@effect/cli"
import { SyncRpc, SyncRun } from "@tidemark/sync-engine"
import { Config, Console, Effect, Option, Schema } from "effect"
import { printPlan, printRun, printRunJson, printRuns, syncTypeLabel } from "./Output.js"
import { requireSucceeded, watchModeFor, watchRun } from "./WatchProgress.js"

export const defaultUrl = `http://127.0.0.1:8080${SyncRpc.defaultPath}`

/** The server could not be reached, or answered with something that is not the RPC protocol. */
export class ServerRequestError extends Schema.TaggedError<ServerRequestError>()("ServerRequestError", {
  url: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `request to the Tidemark server at ${this.url} failed: ${this.reason} ` +
      "(is the server running? point --url or TIDEMARK_URL at its RPC endpoint)"
  }
}

/** The innermost cause's message: fetch wraps the useful part ("connect ECONNREFUSED ...") twice. */
const rootReason = (error: unknown): string => {
  let current: unknown = error
  let reason = String(error)
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    const message = (current as { readonly message?: unknown }).message
    if (typeof message === "string" && message !== "") reason = message
    current = (current as { readonly cause?: unknown }).cause
  }
  return reason
}

const url = Options.text("url").pipe(
  Options.withDefault(defaultUrl),
  Options.withFallbackConfig(Config.string("TIDEMARK_URL")),
  Options.withDescription(`The server's RPC endpoint (env TIDEMARK_URL; default ${defaultUrl})`)
)

export const tidemark = Command.make("tidemark", { url }, () => printHelpOf("tidemark")).pipe(
  Command.withDescription("Tidemark: start, watch and inspect syncs on a running Tidemark server")
)

/** Runs `effect` against the server named by the root's `--url`. */
const withClient = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(tidemark, (root) =>
    effect.pipe(
      Effect.catchIf(
        (error): error is Extract<E, { readonly _tag: "RpcClientError" }> => error._tag === "RpcClientError",
        (error) => Effect.fail(new ServerRequestError({ url: root.url, reason: rootReason(error) }))
      ),
      Effect.provide(SyncRpc.layerHttpClient(root.url))
    ))

const json = Options.boolean("json").pipe(Options.withDescription("Machine-readable output (JSON; NDJSON events when watching)"))

const entities = Options.text("entities").pipe(
  Options.optional,
  Options.withDescription("Comma-separated subset of entities; their hard parents are pulled in")
)
const entityList = (option: Option.Option<string>) =>
  Option.map(option, (text) => text.split(",").map((name) => name.trim()).filter((name) => name !== ""))

const org = Options.text("org").pipe(Options.withDefault("demo"), Options.withDescription("Organisation id"))
const adapter = Options.text("adapter").pipe(Options.withDefault("itsm"), Options.withDescription("Adapter name"))
const runIdArg = Args.text({ name: "run-id" }).pipe(Args.withDescription("The run's id"))

const syncTypes: Readonly<Record<string, SyncRun.SyncType>> = {
  full: "full",
  delta: "delta",
  reconcile: "reconciliation",
  reconciliation: "reconciliation"
}

// Not `Args.choice`: its error lists the choices but not what was typed.
const syncTypeArg = Args.text({ name: "full|delta|reconcile" }).pipe(
  Args.mapEffect((typed) =>
    Object.hasOwn(syncTypes, typed)
      ? Effect.succeed(syncTypes[typed]!)
      : Effect.fail(HelpDoc.p(`unknown sync type "${typed}": expected full, delta or reconcile`))
  ),
  Args.withDescription("full: every record; delta: changes since the watermark; reconcile: find deletions")
)

const sync = Command.make("sync", {
  syncType: syncTypeArg,
  entities,
  org,
  adapter,
  runId: Options.text("run-id").pipe(
    Options.optional,
    Options.withDescription("Idempotency key: the same id twice is one run (default: a new id)")
  ),
  watch: Options.boolean("watch").pipe(Options.withDescription("Follow the run's progress until it ends")),
  json
}, (options) =>
  withClient(Effect.gen(function*() {
    const client = yield* SyncRpc.SyncRpcClient
    const requested = entityList(options.entities)
    const run = yield* client.StartRun({
      orgId: options.org,
      adapter: options.adapter,
      syncType: options.syncType,
      ...(Option.isSome(requested) ? { entities: requested.value } : {}),
      ...(Option.isSome(options.runId) ? { runId: options.runId.value } : {})
    })
    if (!options.watch) {
      return yield* options.json ? printRunJson(run) : Console.log(
        `started ${syncTypeLabel(run.syncType)} sync ${run.runId} of ${run.orgId}/${run.adapter} ` +
          `(${run.entityRuns.length} entities in ${run.levels.length} levels); ` +
          `follow it with: tidemark runs watch ${run.runId}`
      )
    }
    yield* watchRun(run.runId, watchModeFor(options.json)).pipe(Effect.flatMap(requireSucceeded))
  }))).pipe(Command.withDescription("Start a sync run (and with --watch, follow it to the end)"))

const list = Command.make("list", {
  org: Options.text("org").pipe(Options.optional, Options.withDescription("Only this organisation's runs")),
  status: Options.choice("status", SyncRun.RunStatus.literals).pipe(
    Options.optional,
    Options.withDescription("Only runs with this status")
  ),
  limit: Options.integer("limit").pipe(Options.optional, Options.withDescription("At most this many (default 50, max 500)")),
  json
}, (options) =>
  withClient(Effect.gen(function*() {
    const client = yield* SyncRpc.SyncRpcClient
    const runs = yield* client.ListRuns({
      ...(Option.isSome(options.org) ? { orgId: options.org.value } : {}),
      ...(Option.isSome(options.status) ? { status: options.status.value } : {}),
      ...(Option.isSome(options.limit) ? { limit: options.limit.value } : {})
    })
    yield* printRuns(runs, options.json)
  }))).pipe(Command.withDescription("List runs, newest first"))

const show = Command.make("show", { runId: runIdArg, json }, (options) =>
  withClient(Effect.gen(function*() {
    const client = yield* SyncRpc.SyncRpcClient
    yield* printRun(yield* client.GetRun({ runId: options.runId }), options.json)
  }))).pipe(Command.withDescription("Show a run and its entity runs"))

const watch = Command.make("watch", { runId: runIdArg, json }, (options) =>
  withClient(watchRun(options.runId, watchModeFor(options.json)).pipe(Effect.flatMap(requireSucceeded)))).pipe(
    Command.withDescription("Follow a run's progress until it ends (exits non-zero unless it succeeded)")
  )

const runs = Command.make("runs", {}, () => printHelpOf("runs")).pipe(
  Command.withDescription("Inspect runs"),
  Command.withSubcommands([list, show, watch])
)

const cancel = Command.make("cancel", { runId: runIdArg, json }, (options) =>
  withClient(Effect.gen(function*() {
    const client = yield* SyncRpc.SyncRpcClient
    const run = yield* client.CancelRun({ runId: options.runId })
    if (options.json) return yield* printRunJson(run)
    const finished = run.entityRuns.filter((e) => e.status === "succeeded").length
    yield* Console.log(
      run.status === "cancelled"
        ? `run ${run.runId} cancelled (${finished} of ${run.entityRuns.length} entities had finished)`
        : `run ${run.runId} had already ended ${run.status}; nothing to cancel`
    )
  }))).pipe(Command.withDescription("Cancel a pending or running run"))

const plan = Command.make("plan", { adapter, entities, json }, (options) =>
  withClient(Effect.gen(function*() {
    const client = yield* SyncRpc.SyncRpcClient
    const requested = entityList(options.entities)
    const result = yield* client.Plan({
      adapter: options.adapter,
      ...(Option.isSome(requested) ? { entities: requested.value } : {})
    })
    yield* printPlan(result, options.json)
  }))).pipe(Command.withDescription("Show the sync order: levels of entities and the dependency graph as Mermaid"))

export const command = tidemark.pipe(
  Command.withSubcommands([sync, runs, cancel, plan])
)

/** Without a subcommand, `tidemark` and `tidemark runs` print their help. */
function printHelpOf(name: "tidemark" | "runs"): Effect.Effect<void> {
  return Effect.suspend(() => {
    const help: HelpDoc.HelpDoc = name === "runs"
      ? Command.getHelp(runs, CliConfig.defaultConfig)
      : Command.getHelp(command, CliConfig.defaultConfig)
    return Console.log(HelpDoc.toAnsiText(help))
  })
}
