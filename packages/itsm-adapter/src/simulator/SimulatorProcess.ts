/**
 * Runs the simulator as a child process (its own core, as a real source would be), learns its port
 * from the line it prints, and always kills it by PID when the scope closes.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Path from "node:path"
import * as Url from "node:url"

const main = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), "main.ts")

export const start = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly pid: number; readonly kill: () => void }, Error>((resume) => {
      // `node --import tsx` rather than `npx tsx`: one PID, so the kill below reaches the server itself.
      const child = spawn(process.execPath, ["--import", "tsx", main, "--port", "0", ...args], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output)
        if (match) resume(Effect.succeed({ url: match[1]!, pid: child.pid!, kill: () => child.kill("SIGKILL") }))
      })
      child.once("exit", (code) => resume(Effect.fail(new Error(`simulator exited early (code ${code}): ${output}`))))
      return Effect.sync(() => child.kill("SIGKILL"))
    }),
    (sim) => Effect.sync(() => sim.kill())
  )
