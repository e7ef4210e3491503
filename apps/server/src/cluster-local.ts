/**
 * `pnpm cluster:local --nodes 3`: one Postgres (embedded unless DATABASE_URL is set), the ITSM
 * simulator, and N server processes on loopback, each a cluster runner with its own address, all on
 * the same Postgres. Ctrl-C stops everything it started.
 */
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { SimulatorProcess } from "@tidemark/itsm-adapter/simulator"
import { EmbeddedPostgres } from "@tidemark/sync-engine"
import { Config, Effect, Option } from "effect"
import { spawn } from "node:child_process"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..", "..", "..")

const nodes = Options.integer("nodes").pipe(Options.withDefault(3), Options.withDescription("How many nodes"))
const basePort = Options.integer("port").pipe(Options.withDefault(8080), Options.withDescription("HTTP port of node 1"))
const runnerBase = Options.integer("runner-port").pipe(Options.withDefault(34431))

const startServer = (index: number, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      spawn(process.execPath, ["--import", "tsx", Path.join(root, "apps", "server", "src", "main.ts")], {
        cwd: root,
        env: { ...process.env, ...env },
        stdio: ["ignore", "inherit", "inherit"]
      })
    ),
    (child) => Effect.sync(() => child.kill("SIGTERM"))
  ).pipe(Effect.tap((child) => Effect.logInfo(`node ${index}: pid ${child.pid}, http://127.0.0.1:${env.PORT}`)))

const command = Command.make("cluster:local", { nodes, basePort, runnerBase }, (options) =>
  Effect.gen(function*() {
    const configured = yield* Config.option(Config.string("DATABASE_URL"))
    const url = Option.isSome(configured)
      ? configured.value
      : (yield* EmbeddedPostgres.start({ dataDir: Path.join(root, ".data", "cluster-postgres") })).url
    const sim = yield* SimulatorProcess.start(["--scale", "demo", "--latency-ms", "150", "--mutations-per-second", "1"])
    yield* Effect.logInfo(`Postgres ${url.replace(/:[^:@/]*@/, ":***@")}, simulator ${sim.url}`)
    for (let i = 0; i < options.nodes; i++) {
      yield* startServer(i + 1, {
        DATABASE_URL: url,
        ITSM_BASE_URL: sim.url,
        PORT: String(options.basePort + i),
        RUNNER_HOST: "127.0.0.1",
        RUNNER_PORT: String(options.runnerBase + i),
        NODE_NAME: `node-${i + 1}`
      })
    }
    return yield* Effect.never
  }).pipe(Effect.scoped))

NodeRuntime.runMain(
  Command.run(command, { name: "cluster:local", version: "0.1.0" })(process.argv).pipe(Effect.provide(NodeContext.layer))
)
