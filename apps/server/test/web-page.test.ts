/**
 * The web page in a real browser: the server started the way a newcomer starts it (embedded Postgres,
 * the simulator, the first full sync), Debian's Chromium driven by playwright-core, and every number
 * the page shows compared with the API's own answer at the page's snapshot time (`asOf`).
 *
 * Set TIDEMARK_WEB_SCREENSHOT=/tmp/page.png to keep a screenshot of the loaded page.
 */
import { expect, layer } from "@effect/vitest"
import type { Api, Models } from "@tidemark/dashboard-api"
import type { SyncRun } from "@tidemark/sync-engine"
import { Context, Effect, Layer } from "effect"
import { type Browser, chromium, type Page } from "playwright-core"
import * as ServerProcess from "./ServerProcess.js"

const CHROMIUM = "/usr/bin/chromium"
const TOKEN = "demo-token"
const ENTITIES = ["change_request", "cmdb_ci", "em_event", "incident", "problem", "sys_user", "sys_user_group"]

type Overview = typeof Models.Overview.Encoded
type IncidentPage = typeof Models.IncidentPage.Encoded
type IncidentRisk = typeof Models.IncidentRisk.Encoded
type Graph = typeof Api.Graph.Encoded
type Run = typeof SyncRun.Run.Encoded

class Stack extends Context.Tag("web-page.test/Stack")<Stack, {
  readonly url: string
  readonly browser: Browser
}>() {}

const waitForFirstSync = (server: ServerProcess.RunningServer) =>
  Effect.gen(function*() {
    for (let i = 0; i < 900 && !/first sync (succeeded|partial|failed)/.test(server.output()); i++) {
      yield* Effect.sleep("100 millis")
    }
    if (!server.output().includes("first sync succeeded")) {
      return yield* Effect.dieMessage(`the first sync did not succeed:\n${server.output()}`)
    }
  })

// Finalizers run in reverse: the browser closes first, then the server stops, whatever the tests did.
const StackLive = Layer.scoped(
  Stack,
  Effect.gen(function*() {
    const server = yield* ServerProcess.start({ SCHEDULE_DELTA: "off", SCHEDULE_RECONCILIATION: "off" })
    yield* waitForFirstSync(server)
    const browser = yield* Effect.acquireRelease(
      Effect.promise(() =>
        chromium.launch({
          executablePath: CHROMIUM,
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync"
          ]
        })
      ),
      (browser) => Effect.promise(() => browser.close())
    )
    return { url: server.url, browser }
  })
)

const browse = <A>(run: () => Promise<A>) => Effect.promise(run)

const api = <A>(url: string, path: string, init: RequestInit = {}) =>
  browse(async () => {
    const response = await fetch(`${url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }
    })
    if (!response.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${response.status} ${await response.text()}`)
    return await response.json() as A
  })

/** A page in a fresh browser context (no stored token), closed with the scope; uncaught errors kept. */
const openPage = (path: string) =>
  Effect.gen(function*() {
    const { browser, url } = yield* Stack
    const context = yield* Effect.acquireRelease(
      browse(() => browser.newContext({ viewport: { width: 1440, height: 900 } })),
      (context) => Effect.promise(() => context.close())
    )
    const page = yield* browse(() => context.newPage())
    const errors: Array<string> = []
    page.on("pageerror", (error) => errors.push(error.message))
    page.on("console", (message) => message.type() === "error" && errors.push(message.text()))
    yield* browse(() => page.goto(`${url}${path}`))
    return { page, errors, url }
  })

/** The page with its snapshot loaded: overview, incidents with their risk, graph and runs. */
const openDashboard = Effect.gen(function*() {
  const opened = yield* openPage(`/?token=${TOKEN}`)
  const { page } = opened
  yield* browse(() => page.waitForSelector("#incidents[data-state=\"loaded\"]"))
  yield* browse(() => page.waitForSelector("[data-testid=\"graph-node\"]"))
  yield* browse(() => page.waitForSelector("[data-testid=\"run\"]"))
  const asOf = yield* browse(() => page.getAttribute("[data-testid=\"as-of\"]", "datetime"))
  expect(asOf).toMatch(/^\d{4}-\d\d-\d\dT/)
  return { ...opened, asOf: asOf! }
})

const text = (page: Page, testId: string) => browse(() => page.textContent(`[data-testid="${testId}"]`))

/** The number a formatted count shows ("1,425" → 1425); a text without digits fails the test. */
const digits = (shown: string | null) => {
  expect(shown).toMatch(/\d/)
  return Number(shown!.replace(/[^\d]/g, ""))
}

layer(StackLive, { excludeTestServices: true, timeout: "180 seconds" })("web page", (it) => {
  it.effect("shows the overview the API returns, per-entity freshness included", () =>
    Effect.gen(function*() {
      const { asOf, errors, page, url } = yield* openDashboard
      // The token leaves the address bar, and stays in the browser for the next visit.
      expect(page.url()).toBe(`${url}/`)
      expect(yield* browse(() => page.evaluate(() => localStorage.getItem("tidemark.apiToken")))).toBe(TOKEN)

      const overview = yield* api<Overview>(url, `/dashboard/overview?asOf=${encodeURIComponent(asOf)}`)
      expect(overview.asOf).toBe(asOf)
      expect(overview.incidents.open).toBeGreaterThan(0)
      expect(digits(yield* text(page, "incidents-open"))).toBe(overview.incidents.open)
      expect(digits(yield* text(page, "incidents-p1-open"))).toBe(overview.incidents.p1Open)
      expect(digits(yield* text(page, "incidents-past-sla"))).toBe(overview.incidents.pastSla.total)
      expect(digits(yield* text(page, "changes-scheduled"))).toBe(overview.changes.scheduled)
      expect(digits(yield* text(page, "changes-high-risk"))).toBe(overview.changes.highRisk)
      expect(digits(yield* text(page, "events-total"))).toBe(overview.events.total)

      expect(overview.freshness.map((entry) => entry.entity).sort()).toEqual(ENTITIES)
      const rows = yield* browse(() =>
        page.locator("[data-testid=\"freshness-row\"]").evaluateAll((trs) =>
          trs.map((tr) => ({
            entity: (tr as HTMLElement).dataset.entity,
            rows: tr.querySelector("[data-testid=\"freshness-rows\"]")?.textContent ?? null,
            lastRun: tr.querySelector("[data-testid=\"freshness-last-run\"]")?.textContent ?? null
          }))
        )
      )
      for (const entry of overview.freshness) {
        const shown = rows.filter((row) => row.entity === entry.entity)
        expect(shown, entry.entity).toHaveLength(1)
        expect(digits(shown[0]!.rows), entry.entity).toBe(entry.rows)
        expect(shown[0]!.lastRun, entry.entity).toBe(entry.lastRun?.status)
      }

      const screenshot = process.env.TIDEMARK_WEB_SCREENSHOT
      if (screenshot) yield* browse(() => page.screenshot({ path: screenshot, fullPage: true }))
      expect(errors).toEqual([])
    }).pipe(Effect.scoped))

  it.effect("lists the open incidents with the risk scores the API gives at the same time", () =>
    Effect.gen(function*() {
      const { asOf, errors, page, url } = yield* openDashboard
      const rows = yield* browse(() =>
        page.locator("[data-testid=\"incident-row\"]").evaluateAll((trs) =>
          trs.map((tr) => ({
            sysId: (tr as HTMLElement).dataset.sysId!,
            number: (tr as HTMLElement).dataset.number!,
            risk: (tr as HTMLElement).dataset.risk,
            score: tr.querySelector("[data-testid=\"risk-score\"]")?.textContent ?? null,
            level: tr.querySelector("[data-testid=\"risk-level\"]")?.textContent ?? null
          }))
        )
      )
      const firstPage = yield* api<IncidentPage>(url, "/incidents?open=true&limit=20")
      expect(rows.length).toBeGreaterThan(0)
      expect(rows.map((row) => row.number)).toEqual(firstPage.items.map((incident) => incident.number))
      const risks = yield* Effect.forEach(
        rows,
        (row) => api<IncidentRisk>(url, `/incidents/${row.sysId}/risk?asOf=${encodeURIComponent(asOf)}`),
        { concurrency: 5 }
      )
      rows.forEach((row, i) => {
        expect(row.risk, row.number).toBe("loaded")
        expect(Number(row.score), row.number).toBe(risks[i]!.score)
        expect(row.level, row.number).toBe(risks[i]!.level)
      })
      expect(errors).toEqual([])
    }).pipe(Effect.scoped))

  it.effect("draws the dependency graph: one box per entity, hard edges solid, soft dashed", () =>
    Effect.gen(function*() {
      const { errors, page, url } = yield* openDashboard
      const plan = yield* api<Graph>(url, "/admin/graph")
      const boxes = yield* browse(() =>
        page.locator("[data-testid=\"graph-node\"]").evaluateAll((gs) => gs.map((g) => g.getAttribute("data-entity")))
      )
      expect(boxes).toHaveLength(7)
      expect([...boxes].sort()).toEqual([...plan.graph.entities].sort())
      const edges = yield* browse(() =>
        page.locator("[data-testid=\"graph-edge\"]").evaluateAll((paths) =>
          paths.map((path) => ({ kind: path.getAttribute("data-kind"), dashed: path.hasAttribute("stroke-dasharray") }))
        )
      )
      expect(edges).toHaveLength(plan.graph.edges.length)
      expect(edges.filter((edge) => edge.kind === "hard").length).toBe(plan.graph.edges.filter((e) => e.kind === "hard").length)
      for (const edge of edges) expect(edge.dashed).toBe(edge.kind === "soft")
      expect(errors).toEqual([])
    }).pipe(Effect.scoped))

  it.effect("lists the runs, starts a delta sync from its button and follows it to the end", () =>
    Effect.gen(function*() {
      const { asOf, errors, page, url } = yield* openDashboard
      const before = yield* api<ReadonlyArray<Run>>(url, "/admin/runs")
      const firstRun = before[before.length - 1]!
      expect(firstRun.syncType).toBe("full")
      expect(yield* browse(() => page.getAttribute(`[data-testid="run"][data-run-id="${firstRun.runId}"]`, "data-status")))
        .toBe(firstRun.status)

      yield* browse(() => page.click("[data-testid=\"start-delta\"]"))
      const started = yield* Effect.gen(function*() {
        for (let i = 0; i < 100; i++) {
          const runs = yield* api<ReadonlyArray<Run>>(url, "/admin/runs")
          const delta = runs.find((run) => !before.some((old) => old.runId === run.runId))
          if (delta) return delta
          yield* Effect.sleep("100 millis")
        }
        return yield* Effect.dieMessage("no run started from the button")
      })
      expect(started.syncType).toBe("delta")
      // Polled every 2 s: the page follows the run until it ends, then refreshes its snapshot.
      yield* browse(() =>
        page.waitForSelector(`[data-testid="run"][data-run-id="${started.runId}"][data-status="succeeded"]`, {
          timeout: 60_000
        })
      )
      yield* browse(() =>
        page.waitForFunction(
          (previous) => document.querySelector<HTMLTimeElement>("[data-testid=\"as-of\"]")?.dateTime !== previous,
          asOf,
          { timeout: 10_000 }
        )
      )
      expect(errors).toEqual([])
    }).pipe(Effect.scoped))

  it.effect("asks for a token when the one given is refused", () =>
    Effect.gen(function*() {
      const { page } = yield* openPage("/?token=not-a-token")
      yield* browse(() => page.waitForSelector("#sign-in:not([hidden])"))
      expect(yield* browse(() => page.textContent("#token-error"))).toContain("not valid")
      expect(yield* browse(() => page.getAttribute("#token", "placeholder"))).toBe(TOKEN)
      expect(yield* browse(() => page.isHidden("#dashboard"))).toBe(true)
      // Typing the right one opens the dashboard.
      yield* browse(() => page.fill("#token", TOKEN))
      yield* browse(() => page.click("#token-form button[type=\"submit\"]"))
      yield* browse(() => page.waitForSelector("#incidents[data-state=\"loaded\"]"))
    }).pipe(Effect.scoped))
})
