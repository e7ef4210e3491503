/**
 * The `tidemark` CLI as a user runs it: a child process (`node --import tsx`, one PID) talking over
 * HTTP to an RPC server in this process, which runs the full sync stack of the engine's tests.
 */
import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { expect, layer } from "@effect/vitest"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { SyncRpc } from "@tidemark/sync-engine"
import { Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import { createServer } from "node:http"
import * as Path from "node:path"
import * as SyncFixture from "../../../packages/sync-engine/test/SyncFixture.js"

const ORG = SyncFixture.ORG
/** Each CLI start loads Effect through tsx: a few seconds apiece on a busy machine. */
const CLI_TEST_TIMEOUT = 180_000
const repoRoot = Path.resolve(import.meta.dirname, "..", "..", "..")

const ServerLive = HttpLayerRouter.serve(SyncRpc.layerHttpServer({ path: "/rpc" }), {
  disableLogger: true,
  disableListenLog: true
}).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(SyncFixture.layer({ prefix: "cli" }))
)

const rpcUrl = HttpServer.addressWith((address) =>
  address._tag === "TcpAddress"
    ? Effect.succeed(`http://127.0.0.1:${address.port}/rpc`)
    : Effect.dieMessage("expected a TCP address")
)

interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "")

/** Runs the CLI to completion (at most `timeoutMs`); the child is killed by its PID whatever happens. */
const cli = (args: ReadonlyArray<string>, options: { readonly url?: string; readonly timeoutMs?: number } = {}) =>
  Effect.gen(function*() {
    const url = options.url ?? (yield* rpcUrl)
    return yield* Effect.acquireUseRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", "apps/server/src/cli/main.ts", "--url", url, ...args], {
          cwd: repoRoot,
          env: { ...process.env, TIDEMARK_URL: "", NO_COLOR: "1" },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.async<CliResult>((resume) => {
          let stdout = ""
          let stderr = ""
          child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
          child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
          child.on("close", (code) => resume(Effect.succeed({ code, stdout: stripAnsi(stdout), stderr: stripAnsi(stderr) })))
        }).pipe(
          Effect.timeoutFail({
            duration: options.timeoutMs ?? 60_000,
            onTimeout: () => new Error(`tidemark ${args.join(" ")} did not exit`)
          })
        ),
      (child) =>
        Effect.sync(() => {
          if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
            process.kill(child.pid, "SIGKILL")
          }
        })
    )
  })

layer(ServerLive, { excludeTestServices: true, timeout: "180 seconds" })("tidemark CLI", (it) => {
  it.effect("plan prints the levels and the Mermaid graph", () =>
    Effect.gen(function*() {
      const result = yield* cli(["plan"])
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/^plan for adapter itsm: 7 entities in \d+ levels/)
      expect(result.stdout).toContain("level 1:")
      expect(result.stdout).toContain("mermaid:")
      for (const entity of SyncFixture.ENTITIES) expect(result.stdout).toContain(entity)

      const subset = yield* cli(["plan", "--entities", "em_event", "--json"])
      expect(subset.code).toBe(0)
      const plan = JSON.parse(subset.stdout) as { levels: Array<Array<string>>; mermaid: string }
      expect(plan.levels.flat().sort()).toEqual(["cmdb_ci", "em_event"])
    }), CLI_TEST_TIMEOUT)

  it.effect("sync full --watch follows the run to the end; every entity succeeded", () =>
    Effect.gen(function*() {
      const result = yield* cli(["sync", "full", "--org", ORG, "--run-id", "cli-full-1", "--watch"])
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      const lines = result.stdout.split("\n")
      expect(lines[0]).toMatch(/^watching run cli-full-1: full sync of acme\/itsm, 7 entities/)
      for (const entity of SyncFixture.ENTITIES) {
        expect(lines.some((line) => line.startsWith(`${entity}: succeeded, `)), entity).toBe(true)
        expect(lines.some((line) => line.startsWith(`${entity}: page `)), entity).toBe(true)
      }
      expect(lines.filter((line) => line !== "").at(-1)).toMatch(/^run cli-full-1 succeeded in /)
    }), CLI_TEST_TIMEOUT)

  it.effect("runs list --json, runs show and runs watch report the finished run", () =>
    Effect.gen(function*() {
      const listed = yield* cli(["runs", "list", "--org", ORG, "--json"])
      expect(listed.code).toBe(0)
      const runs = JSON.parse(listed.stdout) as Array<{ runId: string; status: string; requestedAt: string }>
      const run = runs.find((r) => r.runId === "cli-full-1")
      expect(run?.status).toBe("succeeded")
      expect(Number.isNaN(Date.parse(run!.requestedAt))).toBe(false)

      const table = yield* cli(["runs", "list", "--status", "succeeded", "--limit", "5"])
      expect(table.code).toBe(0)
      expect(table.stdout.split("\n")[0]).toMatch(/^RUN ID\s+ORG\s+ADAPTER\s+TYPE\s+STATUS/)
      expect(table.stdout).toMatch(/cli-full-1\s+acme\s+itsm\s+full\s+succeeded\s+7\/7/)

      const shown = yield* cli(["runs", "show", "cli-full-1"])
      expect(shown.code).toBe(0)
      expect(shown.stdout).toContain("run       cli-full-1")
      expect(shown.stdout).toContain("status    succeeded")
      for (const entity of SyncFixture.ENTITIES) {
        expect(shown.stdout).toMatch(new RegExp(`^${entity}\\s+\\d\\s+succeeded\\s`, "m"))
      }

      const watched = yield* cli(["runs", "watch", "cli-full-1"])
      expect(watched.code).toBe(0)
      expect(watched.stdout).toContain("incident: succeeded, ")
    }), CLI_TEST_TIMEOUT)

  it.effect("cancel stops a slow run; watching it then exits non-zero with its status", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      // Slow enough (about a minute) that the run outlives two CLI starts, several seconds each on a busy machine.
      yield* sim.setLatency({ ms: 5000 })
      const started = yield* cli(["sync", "full", "--org", ORG, "--run-id", "cli-slow"])
      expect(started.code).toBe(0)
      expect(started.stdout).toContain("started full sync cli-slow of acme/itsm")

      const conflict = yield* cli(["sync", "delta", "--org", ORG, "--entities", "incident"])
      expect(conflict.code).toBe(1)
      expect(conflict.stderr).toContain("run cli-slow is still syncing")

      const cancelled = yield* cli(["cancel", "cli-slow"])
      expect(cancelled.stderr).toBe("")
      expect(cancelled.code).toBe(0)
      expect(cancelled.stdout).toMatch(/^run cli-slow cancelled/)

      const watched = yield* cli(["runs", "watch", "cli-slow"])
      expect(watched.code).toBe(1)
      expect(watched.stdout).toContain("run cli-slow cancelled")
      expect(watched.stderr).toContain("error: run cli-slow ended cancelled")

      // Settle: a run after the cancelled one is not blocked by it.
      yield* sim.setLatency({ ms: 0 })
      const next = yield* cli(["sync", "delta", "--org", ORG, "--watch", "--json"])
      expect(next.code).toBe(0)
      const events = next.stdout.trim().split("\n").map((line) => JSON.parse(line) as { _tag: string; status?: string })
      expect(events.at(-1)).toMatchObject({ _tag: "RunFinished", status: "succeeded" })
    }).pipe(Effect.ensuring(Effect.flatMap(ItsmSimulator.ItsmSimulator, (sim) => sim.setLatency({ ms: 0 })))),
    CLI_TEST_TIMEOUT)

  it.effect("bad commands and bad requests exit non-zero with a message saying what is wrong", () =>
    Effect.gen(function*() {
      const url = yield* rpcUrl
      const [sideways, spaced, unknownEntity, missing, unreachable, wrongPath] = yield* Effect.all([
        cli(["sync", "sideways"]),
        cli(["sync", "full", "--org", "has spaces"]),
        cli(["sync", "delta", "--org", ORG, "--entities", "incident,nope"]),
        cli(["runs", "show", "no-such-run"]),
        cli(["runs", "list"], { url: "http://127.0.0.1:9/rpc" }),
        cli(["runs", "list"], { url: url.replace("/rpc", "/nope") })
      ], { concurrency: 3 })

      expect(sideways.code).toBe(2)
      expect(sideways.stderr).toContain(`unknown sync type "sideways": expected full, delta or reconcile`)

      expect(spaced.code).toBe(1)
      expect(spaced.stderr).toMatch(/^error: invalid run request: orgId: /)

      expect(unknownEntity.code).toBe(1)
      expect(unknownEntity.stderr).toMatch(/^error: invalid run request: entities: .*nope/)

      expect(missing.code).toBe(1)
      expect(missing.stderr).toBe("error: no run with id no-such-run\n")

      expect(unreachable.code).toBe(1)
      expect(unreachable.stderr).toContain("request to the Tidemark server at http://127.0.0.1:9/rpc failed")

      expect(wrongPath.code).toBe(1)
      expect(wrongPath.stderr).toContain("404")
    }), CLI_TEST_TIMEOUT)
})
