/**
 * A CPU profile of the bench's own process (the API server) while load runs against it, summarised
 * by where the self time goes: per package (effect, @effect/platform, pg, node internals, Tidemark)
 * and per function. The whole profile is written as a `.cpuprofile` for Chrome DevTools.
 */
import { Effect } from "effect"
import * as Fs from "node:fs"
import { Session } from "node:inspector/promises"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly hitCount?: number
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples?: ReadonlyArray<number>
  readonly timeDeltas?: ReadonlyArray<number>
}

export interface ProfileSummary {
  readonly file: string
  readonly sampledMs: number
  readonly byPackage: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>
  readonly byFunction: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>
}

/** What a frame belongs to: a package (from its pnpm store path), Node itself, or a Tidemark file. */
const ownerOf = (url: string, functionName: string): string => {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  if (url.startsWith("node:")) return "node"
  const store = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (store) return store[1]!
  const plain = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (plain) return plain[1]!
  const own = /packages\/([^/]+)\//.exec(url)
  return own ? `tidemark/${own[1]}` : url
}

const summarise = (profile: CpuProfile, file: string, top: number): ProfileSummary => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfMicros = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  // A sample's time is the delta to the next one.
  for (let i = 0; i < samples.length; i++) {
    const micros = deltas[i + 1] ?? 0
    selfMicros.set(samples[i]!, (selfMicros.get(samples[i]!) ?? 0) + micros)
  }
  const packages = new Map<string, number>()
  const functions = new Map<string, number>()
  let total = 0
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame
    total += micros
    const owner = ownerOf(frame.url, frame.functionName)
    packages.set(owner, (packages.get(owner) ?? 0) + micros)
    const file = frame.url.split("/").slice(-1)[0] ?? ""
    const name = `${frame.functionName || "(anonymous)"} ${owner}${file ? ` ${file}:${frame.lineNumber + 1}` : ""}`
    functions.set(name, (functions.get(name) ?? 0) + micros)
  }
  const ranked = (map: Map<string, number>) =>
    [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, micros]) => ({
      name,
      ms: Math.round(micros / 1000),
      share: Math.round((micros / Math.max(1, total)) * 1000) / 1000
    }))
  return { file, sampledMs: Math.round(total / 1000), byPackage: ranked(packages), byFunction: ranked(functions) }
}

/** Runs `effect` under the V8 CPU profiler of this process and summarises where the time went. */
export const profiled = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  file: string,
  top = 30
): Effect.Effect<readonly [A, ProfileSummary], E | Error, R> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: async () => {
        const session = new Session()
        session.connect()
        await session.post("Profiler.enable")
        await session.post("Profiler.setSamplingInterval", { interval: 200 })
        await session.post("Profiler.start")
        return session
      },
      catch: (cause) => new Error(`cannot start the CPU profiler: ${String(cause)}`)
    }),
    (session) =>
      Effect.flatMap(effect, (value) =>
        Effect.tryPromise({
          try: async () => {
            const { profile } = await session.post("Profiler.stop")
            Fs.writeFileSync(file, JSON.stringify(profile))
            return [value, summarise(profile as CpuProfile, file, top)] as const
          },
          catch: (cause) => new Error(`cannot stop the CPU profiler: ${String(cause)}`)
        })),
    (session) => Effect.sync(() => session.disconnect())
  )
