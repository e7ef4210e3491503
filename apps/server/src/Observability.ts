/**
 * Health, readiness and Prometheus metrics on the server's HTTP port. Run, page and record figures
 * and the lag per entity are read from the run history at scrape time (so every node reports the
 * cluster's numbers); source calls and 429s are this process's own counters.
 */
import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Metric, MetricState } from "effect"

const text = (status: number, body: string, contentType = "text/plain; charset=utf-8") =>
  HttpServerResponse.text(body, { status, contentType })

type Labels = Readonly<Record<string, string | number>>

const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

const line = (name: string, labels: Labels, value: number) => {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escape(String(v))}"`)
  return `${name}${pairs.length > 0 ? `{${pairs.join(",")}}` : ""} ${Number.isFinite(value) ? value : 0}`
}

const family = (name: string, type: "counter" | "gauge", help: string, samples: ReadonlyArray<string>) =>
  [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples].join("\n")

/** This process's Effect counters (source requests, 429s), in the exposition format. */
const processCounters = Effect.map(Metric.snapshot, (pairs) => {
  const byName = new Map<string, { help: string; samples: Array<string> }>()
  for (const pair of pairs) {
    if (!MetricState.isCounterState(pair.metricState)) continue
    const name = pair.metricKey.name
    const entry = byName.get(name) ?? { help: pair.metricKey.description._tag === "Some" ? pair.metricKey.description.value : name, samples: [] }
    const labels = Object.fromEntries(pair.metricKey.tags.map((t) => [t.key, t.value]))
    entry.samples.push(line(name, labels, Number(pair.metricState.count)))
    byName.set(name, entry)
  }
  return [...byName.entries()].map(([name, { help, samples }]) => family(name, "counter", help, samples))
})

const historyMetrics = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const runs = yield* sql<{ status: string; n: number }>`
    SELECT status, count(*)::int AS n FROM sync_runs GROUP BY status`
  const entities = yield* sql<{
    org_id: string
    adapter: string
    entity: string
    pages: number
    records: number
    dead_letters: number
    failed: number
  }>`
    SELECT r.org_id, r.adapter, e.entity, sum(e.pages)::int AS pages, sum(e.records)::int AS records,
           sum(e.dead_letters)::int AS dead_letters, count(*) FILTER (WHERE e.status = 'failed')::int AS failed
    FROM sync_entity_runs e JOIN sync_runs r USING (run_id)
    GROUP BY r.org_id, r.adapter, e.entity`
  const lag = yield* sql<{ org_id: string; adapter: string; entity: string; lag: number }>`
    SELECT org_id, adapter, entity, extract(epoch FROM now() - watermark)::double precision AS lag
    FROM sync_watermarks WHERE watermark IS NOT NULL`
  const key = (r: { org_id: string; adapter: string; entity: string }) => ({ org: r.org_id, adapter: r.adapter, entity: r.entity })
  return [
    family("tidemark_runs", "gauge", "Runs by status", runs.map((r) => line("tidemark_runs", { status: r.status }, r.n))),
    family("tidemark_pages_total", "counter", "Pages committed", entities.map((r) => line("tidemark_pages_total", key(r), r.pages))),
    family("tidemark_records_total", "counter", "Records synced", entities.map((r) => line("tidemark_records_total", key(r), r.records))),
    family("tidemark_dead_letters_total", "counter", "Records that failed validation or transform", entities.map((r) => line("tidemark_dead_letters_total", key(r), r.dead_letters))),
    family("tidemark_entity_run_failures_total", "counter", "Failed entity runs", entities.map((r) => line("tidemark_entity_run_failures_total", key(r), r.failed))),
    family("tidemark_lag_seconds", "gauge", "Seconds from the watermark to now", lag.map((r) => line("tidemark_lag_seconds", key(r), r.lag)))
  ]
})

export const routes = HttpLayerRouter.addAll([
  HttpLayerRouter.route("GET", "/healthz", Effect.succeed(text(200, "ok\n"))),
  HttpLayerRouter.route(
    "GET",
    "/readyz",
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(
      Effect.as(text(200, "ready\n")),
      Effect.catchAllCause(() => Effect.succeed(text(503, "database unreachable\n")))
    )
  ),
  HttpLayerRouter.route(
    "GET",
    "/metrics",
    Effect.gen(function*() {
      const families = [...(yield* historyMetrics), ...(yield* processCounters)]
      return text(200, `${families.join("\n")}\n`, "text/plain; version=0.0.4; charset=utf-8")
    }).pipe(Effect.catchAllCause((cause) => Effect.succeed(text(500, `metrics unavailable: ${cause}\n`))))
  )
])
