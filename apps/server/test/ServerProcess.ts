/**
 * The server as a child process, the way a newcomer runs it, on port 0 and a data folder of its own;
 * stopped by PID with SIGTERM (which also stops its embedded Postgres), SIGKILL if it hangs.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..", "..", "..")

export interface RunningServer {
  readonly url: string
  readonly pid: number
  /** Everything the server printed so far. */
  readonly output: () => string
}

export const start = (env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.async<RunningServer & { readonly stop: () => Promise<void> }, Error>((resume) => {
      const dataDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tidemark-server-"))
      Fs.chmodSync(dataDir, 0o755)
      const child = spawn(process.execPath, ["--import", "tsx", Path.join(root, "apps", "server", "src", "main.ts")], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: "", PORT: "0", TIDEMARK_DATA_DIR: Path.join(dataDir, "pg"), ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let announced = false
      const stop = () =>
        new Promise<void>((done) => {
          if (child.exitCode !== null) return done()
          const hard = setTimeout(() => child.kill("SIGKILL"), 30_000)
          child.once("exit", () => {
            clearTimeout(hard)
            Fs.rmSync(dataDir, { recursive: true, force: true })
            done()
          })
          child.kill("SIGTERM")
        })
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        const match = /Tidemark listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
        if (match && !announced) {
          announced = true
          resume(Effect.succeed({ url: match[1]!, pid: child.pid!, output: () => output, stop }))
        }
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      child.once("exit", (code) => {
        if (!announced) resume(Effect.fail(new Error(`server exited (code ${code}) before listening:\n${output}`)))
      })
      return Effect.promise(stop)
    }),
    (server) => Effect.promise(() => server.stop())
  )
