/**
 * The load generator of the dashboard bench, run as a child process so that autocannon's own work
 * (building requests, parsing responses, histograms) does not share the server's event loop:
 *
 *   node --import tsx dashboard-bench-load.ts '<LoadSpec as JSON>'
 *
 * Prints autocannon's result as one JSON line on stdout.
 */
import autocannon from "autocannon"

export interface LoadSpec {
  readonly url: string
  /** Paths requested in turn, one per request (a single path for a fixed endpoint). */
  readonly paths: ReadonlyArray<string>
  readonly headers: Readonly<Record<string, string>>
  readonly connections: number
  readonly seconds: number
}

export interface LoadResult {
  readonly rps: number
  readonly p50_ms: number
  readonly p90_ms: number
  readonly p99_ms: number
  readonly mean_ms: number
  readonly max_ms: number
  readonly requests: number
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  readonly bytes_per_response: number
}

const run = async (spec: LoadSpec): Promise<LoadResult> => {
  let next = 0
  const paths = spec.paths
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    headers: { ...spec.headers },
    requests: paths.length === 1
      ? [{ method: "GET", path: paths[0]! }]
      : [{
        method: "GET",
        setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length]! })
      }]
  })
  const responses = result.requests.total
  return {
    rps: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p90_ms: result.latency.p90,
    p99_ms: result.latency.p99,
    mean_ms: Math.round(result.latency.average * 100) / 100,
    max_ms: result.latency.max,
    requests: responses,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    bytes_per_response: responses === 0 ? 0 : Math.round(result.throughput.total / responses)
  }
}

if (process.argv[2] !== undefined) {
  run(JSON.parse(process.argv[2]) as LoadSpec).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
      process.exitCode = 1
    }
  )
}
