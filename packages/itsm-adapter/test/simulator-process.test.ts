import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { ItsmSimulator } from "../src/simulator/index.js"

const MAIN = fileURLToPath(new URL("../src/simulator/main.ts", import.meta.url))
const ROOT = fileURLToPath(new URL("../../..", import.meta.url))

type Row = Record<string, string>

const getJson = (url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, headers: response.headers, body: (await response.json()) as { result: Array<Row> } }
  })

interface CliProcess {
  readonly url: string
  readonly pid: number
  readonly exited: Promise<number | null>
}

const killQuietly = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(pid, signal)
  } catch {
    // Already gone: nothing to stop.
  }
}

/** Starts the CLI as one node process (not `npx tsx`, which forks) and waits for its listening line. */
const startCli = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<CliProcess, Error>((resume) => {
      const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"]
      })
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8")
        const match = /ITSM simulator listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
        if (match !== null) resume(Effect.succeed({ url: match[1] as string, pid: child.pid as number, exited }))
      })
      child.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8")
      })
      child.once("exit", (code) => resume(Effect.fail(new Error(`simulator exited with ${code}: ${output}`))))
      return Effect.sync(() => killQuietly(child.pid as number, "SIGKILL"))
    }),
    // Whatever happened in the test, the child does not outlive it.
    ({ exited, pid }) => Effect.promise(() => (killQuietly(pid, "SIGKILL"), exited))
  )

describe("ItsmSimulator process and scale", () => {
  it.scopedLive("runs from the command line, serves OAuth and the Table API, and exits on SIGTERM", () =>
    Effect.gen(function*() {
      const cli = yield* startCli(["--port", "0", "--seed", "1", "--scale", "demo"])
      yield* Effect.gen(function*() {
        const token = yield* Effect.promise(() =>
          fetch(`${cli.url}/oauth_token.do`, {
            method: "POST",
            headers: { "Content-Type": "application/x-www-form-urlencoded" },
            body: "grant_type=client_credentials&client_id=tidemark&client_secret=tidemark-secret"
          }).then((r) => r.json() as Promise<{ access_token: string }>)
        )
        const page = yield* getJson(`${cli.url}/api/now/table/incident?sysparm_limit=10`, {
          headers: { Authorization: `Bearer ${token.access_token}` }
        })
        expect(page.status).toBe(200)
        expect(page.body.result.length).toBe(10)
        expect(page.headers.get("x-total-count")).toBe("2000")
      }).pipe(Effect.ensuring(Effect.sync(() => killQuietly(cli.pid, "SIGTERM"))))
      expect(yield* Effect.promise(() => cli.exited)).toBe(0)
    }), 30_000)

  it.scopedLive("holds a million incidents and serves a keyset page from the middle", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.make({
        auth: "none",
        clock: "manual",
        baseTime: "2026-03-01 00:00:00",
        counts: { incident: 1_000_000 }
      })
      expect((yield* sim.liveCounts()).incident).toBe(1_000_000)
      const middle = "2026-01-15 12:00:00"
      const first = yield* getJson(
        `${sim.url}/api/now/table/incident?sysparm_limit=1000&sysparm_exclude_reference_link=true&sysparm_query=${
          encodeURIComponent(`sys_updated_on>=${middle}^ORDERBYsys_updated_on^ORDERBYsys_id`)
        }`
      )
      expect(first.body.result.length).toBe(1000)
      const total = Number(first.headers.get("x-total-count"))
      expect(total).toBeGreaterThan(300_000)
      expect(total).toBeLessThan(700_000)
      const last = first.body.result[999] as Row
      const next = yield* getJson(
        `${sim.url}/api/now/table/incident?sysparm_limit=1000&sysparm_exclude_reference_link=true&sysparm_query=${
          encodeURIComponent(
            `sys_updated_on>${last.sys_updated_on}^NQsys_updated_on=${last.sys_updated_on}^sys_id>${last.sys_id}^ORDERBYsys_updated_on^ORDERBYsys_id`
          )
        }`
      )
      expect(Number(next.headers.get("x-total-count"))).toBe(total - 1000)
      const keys = [...first.body.result, ...next.body.result].map((r) => `${r.sys_updated_on}|${r.sys_id}`)
      expect(keys[0]! >= middle).toBe(true)
      expect([...keys].sort()).toEqual(keys)
      expect(new Set(keys).size).toBe(2000)
    }), 60_000)

  it.scopedLive("is available as a layer", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const page = yield* getJson(`${sim.url}/api/now/table/sys_user_group?sysparm_limit=100`)
      expect(page.body.result.length).toBe(3)
      expect(sim.port).toBeGreaterThan(0)
    }).pipe(Effect.provide(ItsmSimulator.layer({ auth: "none", counts: { sys_user_group: 3 } }))))
})
