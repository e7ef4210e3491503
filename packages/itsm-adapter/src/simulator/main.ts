/**
 * Command-line entry:
 *   node --import tsx packages/itsm-adapter/src/simulator/main.ts --port 4010 --seed 1 --scale demo
 * Prints `ITSM simulator listening on http://127.0.0.1:<port>` once listening (a parent started
 * with `--port 0` reads the port from it) and exits cleanly on SIGTERM or SIGINT.
 */
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Option } from "effect"
import * as ItsmSimulator from "./ItsmSimulator.js"

const port = Options.integer("port").pipe(
  Options.withDefault(4010),
  Options.withDescription("Port on 127.0.0.1 (0: any free port)")
)
const seed = Options.integer("seed").pipe(Options.withDefault(1), Options.withDescription("Data seed"))
const scale = Options.choice("scale", ["demo", "small", "large"]).pipe(
  Options.withDefault("demo" as const),
  Options.withDescription("Table sizes")
)
const incidents = Options.integer("incidents").pipe(
  Options.optional,
  Options.withDescription("Override the number of incidents")
)
const baseTime = Options.text("base-time").pipe(
  Options.optional,
  Options.withDescription("Clock start, YYYY-MM-DD HH:mm:ss or ISO 8601 (default: now)")
)
const latencyMs = Options.integer("latency-ms").pipe(
  Options.withDefault(0),
  Options.withDescription("Latency per request")
)
const jitterMs = Options.integer("jitter-ms").pipe(
  Options.withDefault(0),
  Options.withDescription("Random extra latency")
)
const rateLimit = Options.integer("rate-limit").pipe(
  Options.withDefault(0),
  Options.withDescription("Requests per second per credential (0: off)")
)
const host = Options.text("host").pipe(
  Options.withDefault("127.0.0.1"),
  Options.withDescription("Interface to listen on (0.0.0.0: reachable from other hosts or containers)")
)
const clientId = Options.text("client-id").pipe(Options.withDefault("tidemark"))
const clientSecret = Options.text("client-secret").pipe(Options.withDefault("tidemark-secret"))
const username = Options.text("username").pipe(Options.withDefault("admin"))
const password = Options.text("password").pipe(Options.withDefault("admin"))
const noAuth = Options.boolean("no-auth").pipe(Options.withDescription("Accept requests without credentials"))
const mutationsPerSecond = Options.integer("mutations-per-second").pipe(
  Options.withDefault(0),
  Options.withDescription("Background mutation stream (0: off)")
)

const command = Command.make(
  "itsm-simulator",
  {
    port,
    host,
    seed,
    scale,
    incidents,
    baseTime,
    latencyMs,
    jitterMs,
    rateLimit,
    clientId,
    clientSecret,
    username,
    password,
    noAuth,
    mutationsPerSecond
  },
  (options) =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.make({
        port: options.port,
        host: options.host,
        seed: options.seed,
        scale: options.scale,
        ...Option.match(options.incidents, { onNone: () => ({}), onSome: (incident) => ({ counts: { incident } }) }),
        ...Option.match(options.baseTime, { onNone: () => ({}), onSome: (text) => ({ baseTime: text }) }),
        auth: options.noAuth ? "none" : "oauth",
        credentials: {
          clientId: options.clientId,
          clientSecret: options.clientSecret,
          username: options.username,
          password: options.password
        },
        latency: { ms: options.latencyMs, jitterMs: options.jitterMs },
        rateLimit: { perSecond: options.rateLimit },
        mutations: { perSecond: options.mutationsPerSecond }
      })
      yield* Console.log(`ITSM simulator listening on ${sim.url}`)
      return yield* Effect.never
    }).pipe(Effect.scoped)
)

const cli = Command.run(command, { name: "ITSM simulator", version: "0.1.0" })

cli(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
