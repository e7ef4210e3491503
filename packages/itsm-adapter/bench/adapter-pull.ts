/**
 * bench:adapter — pull every incident of a 200,000-incident simulator at zero latency through the
 * adapter (validation, transform, retries, rate budget, tokens), and through a bare fetch loop on the
 * same pages, in the same run. Prints one JSON line; target ratio >= 0.8.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { type Adapter, RateBudget } from "@tidemark/adapter-core"
import { Effect, Layer, Option, Redacted } from "effect"
import * as EncodedQuery from "../src/EncodedQuery.js"
import * as TableApiAdapter from "../src/TableApiAdapter.js"
import { parseDateTime } from "../src/TableField.js"
import { SimulatorProcess } from "../src/simulator/index.js"

const quick = process.argv.includes("--quick")
const INCIDENTS = quick ? 20_000 : 200_000
const PAGE = 1000

const token = async (url: string) => {
  const response = await fetch(`${url}/oauth_token.do`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials&client_id=tidemark&client_secret=tidemark-secret"
  })
  return ((await response.json()) as { access_token: string }).access_token
}

/** The floor: the same keyset requests, JSON parsed, nothing else. */
const bareLoop = async (url: string) => {
  const bearer = `Bearer ${await token(url)}`
  let after = Option.none<Adapter.Position>()
  let records = 0
  for (;;) {
    const params = new URLSearchParams({
      sysparm_query: EncodedQuery.keysetAfter(after),
      sysparm_limit: String(PAGE),
      sysparm_exclude_reference_link: "true",
      sysparm_display_value: "false",
      sysparm_no_count: "true"
    })
    const response = await fetch(`${url}/api/now/table/incident?${params}`, {
      headers: { authorization: bearer, accept: "application/json" }
    })
    const body = (await response.json()) as { result: Array<{ sys_id: string; sys_updated_on: string }> }
    records += body.result.length
    if (body.result.length < PAGE) return records
    const last = body.result[body.result.length - 1]!
    after = Option.some({ cursor: parseDateTime(last.sys_updated_on), key: last.sys_id })
  }
}

const adapterLoop = (url: string) =>
  Effect.gen(function*() {
    const adapter = yield* TableApiAdapter.make({
      baseUrl: url,
      org: "bench",
      auth: {
        _tag: "OAuthClientCredentials",
        tokenUrl: `${url}/oauth_token.do`,
        clientId: "tidemark",
        clientSecret: Redacted.make("tidemark-secret")
      }
    })
    let after = Option.none<Adapter.Position>()
    let records = 0
    for (;;) {
      const page = yield* adapter.fetchPage({ entity: "incident", after, limit: PAGE })
      records += page.records.length + page.invalid.length
      if (!page.hasMore || Option.isNone(page.last)) return records
      after = page.last
    }
  }).pipe(Effect.provide(Layer.merge(NodeHttpClient.layerUndici, RateBudget.layer)))

const timed = async <A>(run: () => Promise<A>) => {
  const start = performance.now()
  const value = await run()
  return { value, seconds: (performance.now() - start) / 1000 }
}

const program = Effect.gen(function*() {
  const sim = yield* SimulatorProcess.start(["--scale", "demo", "--incidents", String(INCIDENTS), "--seed", "1"])
  // Warm both paths (JIT, connection pools, the simulator's caches) before measuring.
  yield* Effect.promise(() => bareLoop(sim.url))
  yield* adapterLoop(sim.url)
  const runs: Array<{ bare: number; adapter: number; records: number }> = []
  // Alternate which goes first: the simulator slows a little as its garbage grows, and neither side
  // should always get the fresher server.
  for (let round = 0; round < 4; round++) {
    const runBare = () => Effect.promise(() => timed(() => bareLoop(sim.url)))
    const runAdapter = () => Effect.promise(() => timed(() => Effect.runPromise(adapterLoop(sim.url))))
    const [bare, adapter] = round % 2 === 0
      ? [yield* runBare(), yield* runAdapter()]
      : yield* Effect.map(Effect.zip(runAdapter(), runBare()), ([a, b]) => [b, a] as const)
    if (bare.value !== adapter.value) {
      return yield* Effect.dieMessage(`bare loop saw ${bare.value} records, adapter ${adapter.value}`)
    }
    runs.push({ bare: bare.value / bare.seconds, adapter: adapter.value / adapter.seconds, records: bare.value })
    if (process.env.BENCH_VERBOSE) process.stderr.write(`${JSON.stringify(runs.at(-1))}\n`)
  }
  const median = (values: ReadonlyArray<number>) => {
    const sorted = [...values].sort((a, b) => a - b)
    return (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2
  }
  const bareRps = median(runs.map((r) => r.bare))
  const adapterRps = median(runs.map((r) => r.adapter))
  const line = {
    bench: "adapter.pull",
    records: runs[0]!.records,
    adapter_rps: Math.round(adapterRps),
    bare_rps: Math.round(bareRps),
    ratio: Number((adapterRps / bareRps).toFixed(3))
  }
  yield* Effect.sync(() => process.stdout.write(`${JSON.stringify(line)}\n`))
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  process.stderr.write(`bench:adapter failed: ${error}\n`)
  process.exit(1)
})
