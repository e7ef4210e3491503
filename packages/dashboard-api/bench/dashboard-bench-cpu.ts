/**
 * CPU time spent per request by the server (this process) and by Postgres (the postmaster's
 * children, read from /proc when the server is local). Throughput depends on whatever else the
 * machine is running; CPU time per request much less so, which makes it the figure to compare runs by.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICK_MS = 10

const statFields = (pid: number): ReadonlyArray<string> | undefined => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // The command name may hold spaces; fields after it are space-separated (state is field 3).
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

const isPostgres = (pid: number) => {
  try {
    return Fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim().startsWith("postgres")
  } catch {
    return false
  }
}

/** The postmaster of a backend pid, when that backend is a local Postgres process. */
export const postmasterOf = (backendPid: number): number | undefined => {
  if (!isPostgres(backendPid)) return undefined
  const parent = Number(statFields(backendPid)?.[1])
  return Number.isFinite(parent) && isPostgres(parent) ? parent : undefined
}

const postgresTicks = (postmaster: number): Map<number, number> => {
  const ticks = new Map<number, number>()
  for (const entry of Fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    const fields = statFields(pid)
    if (fields === undefined || (pid !== postmaster && Number(fields[1]) !== postmaster)) continue
    // utime and stime: fields 14 and 15 of the whole line, 12 and 13 after the command.
    ticks.set(pid, Number(fields[11]) + Number(fields[12]))
  }
  return ticks
}

export interface CpuSample {
  readonly process: NodeJS.CpuUsage
  readonly postgres: Map<number, number> | undefined
}

export const sample = (postmaster: number | undefined): CpuSample => ({
  process: process.cpuUsage(),
  postgres: postmaster === undefined ? undefined : postgresTicks(postmaster)
})

export interface CpuPerRequest {
  readonly server_cpu_ms_per_req: number
  readonly pg_cpu_ms_per_req: number | null
  readonly load_avg_1m: number
}

const round3 = (n: number) => Math.round(n * 1000) / 1000

export const perRequest = (before: CpuSample, after: CpuSample, requests: number): CpuPerRequest => {
  const n = Math.max(1, requests)
  const serverMs = (after.process.user - before.process.user + after.process.system - before.process.system) / 1000
  let pgMs: number | null = null
  if (before.postgres !== undefined && after.postgres !== undefined) {
    pgMs = 0
    // A backend started meanwhile (the pool replaces idle connections) counts whole; one that exited
    // took its ticks with it (an undercount).
    for (const [pid, ticks] of after.postgres) pgMs += (ticks - (before.postgres.get(pid) ?? 0)) * TICK_MS
  }
  return {
    server_cpu_ms_per_req: round3(serverMs / n),
    pg_cpu_ms_per_req: pgMs === null ? null : round3(pgMs / n),
    load_avg_1m: Math.round(Os.loadavg()[0]! * 100) / 100
  }
}
