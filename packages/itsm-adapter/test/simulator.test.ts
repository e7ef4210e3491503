import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import { createHmac } from "node:crypto"
import { createServer, type IncomingMessage } from "node:http"
import { ItsmEntities } from "../src/index.js"
import { ItsmSimulator, type SimulatorHandle, type SimulatorOptions } from "../src/simulator/index.js"

/** Records as served: every value a string or, with reference links, a {link, value} pair. */
type Row = Record<string, unknown>
interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly body: {
    readonly result?: unknown
    readonly error?: { message: string; detail: string | null }
    readonly status?: string
  } | null
}

const BASE_TIME = "2026-03-01 00:00:00"
const KEYSET_FIRST = "ORDERBYsys_updated_on^ORDERBYsys_id"
const keysetAfter = (ts: string, id: string) =>
  `sys_updated_on>${ts}^NQsys_updated_on=${ts}^sys_id>${id}^ORDERBYsys_updated_on^ORDERBYsys_id`

const http = (url: string, init?: RequestInit): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    const text = await response.text()
    let body: Answer["body"] = null
    try {
      body = JSON.parse(text) as Answer["body"]
    } catch {
      body = null
    }
    return { status: response.status, headers: response.headers, text, body }
  })

const postJson = (url: string, body: unknown) =>
  http(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })

const rows = (answer: Answer): Array<Row> => answer.body?.result as Array<Row>

const tableUrl = (sim: SimulatorHandle, table: string, params: Record<string, string | number>) =>
  `${sim.url}/api/now/table/${table}?${new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]))}`

const start = (options: SimulatorOptions = {}) =>
  ItsmSimulator.make({ auth: "none", baseTime: BASE_TIME, clock: "manual", ...options })

const SMALL = { sys_user: 50, sys_user_group: 8, cmdb_ci: 60, change_request: 40, problem: 20, incident: 600, em_event: 200 }

/** Pulls a whole table the way the adapter does: keyset pages on (sys_updated_on, sys_id). */
const pullKeyset = (sim: SimulatorHandle, table: string, pageSize: number) =>
  Effect.gen(function*() {
    const out: Array<Row> = []
    let query = KEYSET_FIRST
    for (let page = 0; page < 100_000; page++) {
      const answer = yield* http(
        tableUrl(sim, table, { sysparm_query: query, sysparm_limit: pageSize, sysparm_exclude_reference_link: "true" })
      )
      expect(answer.status).toBe(200)
      const batch = rows(answer)
      out.push(...batch)
      if (batch.length < pageSize) break
      const last = batch[batch.length - 1] as Row
      query = keysetAfter(last.sys_updated_on as string, last.sys_id as string)
    }
    return out
  })

const keyOf = (row: Row) => `${row.sys_updated_on as string}|${row.sys_id as string}`

describe("ItsmSimulator data", () => {
  it.scopedLive("is deterministic: the same seed gives byte-identical truth, also after mutations", () =>
    Effect.gen(function*() {
      const a = yield* start({ seed: 7, counts: SMALL })
      const b = yield* start({ seed: 7, counts: SMALL })
      const c = yield* start({ seed: 8, counts: SMALL })
      for (const table of ["sys_user", "sys_user_group", "cmdb_ci", "change_request", "problem", "incident", "em_event"]) {
        const [ta, tb] = [yield* a.truth(table), yield* b.truth(table)]
        expect(JSON.stringify(ta)).toEqual(JSON.stringify(tb))
        expect(ta.result.length).toBe(SMALL[table as keyof typeof SMALL])
      }
      expect(JSON.stringify(yield* a.truth("incident"))).not.toEqual(JSON.stringify(yield* c.truth("incident")))
      for (const sim of [a, b]) {
        yield* sim.advanceClock(60)
        yield* sim.mutate({ table: "incident", creates: 5, updates: 20, deletes: 3 })
        yield* sim.mutate({ table: "cmdb_ci", updates: 4, deletes: 2 })
      }
      expect(JSON.stringify(yield* a.truth("incident"))).toEqual(JSON.stringify(yield* b.truth("incident")))
      expect(JSON.stringify(yield* a.truth("sys_audit_delete"))).toEqual(JSON.stringify(yield* b.truth("sys_audit_delete")))
    }))

  it.scopedLive("generates consistent records: ids, times, references, numbers, states", () =>
    Effect.gen(function*() {
      const sim = yield* start({ seed: 3, counts: SMALL })
      const ids = new Map<string, Set<string>>()
      for (const table of ["sys_user", "sys_user_group", "cmdb_ci", "change_request", "problem"]) {
        ids.set(table, new Set((yield* sim.truth(table)).result.map((r) => r.sys_id as string)))
      }
      const base = BASE_TIME
      for (const table of ["incident", "cmdb_ci", "em_event", "change_request"]) {
        for (const r of (yield* sim.truth(table)).result) {
          expect(r.sys_id).toMatch(/^[0-9a-f]{32}$/)
          expect(r.sys_updated_on < base).toBe(true)
          expect(r.sys_created_on <= r.sys_updated_on).toBe(true)
          expect(Object.values(r).every((v) => typeof v === "string")).toBe(true)
        }
      }
      const incidents = (yield* sim.truth("incident")).result
      expect(new Set(incidents.map((r) => r.number)).size).toBe(incidents.length)
      for (const r of incidents) {
        expect(ids.get("sys_user")?.has(r.caller_id as string)).toBe(true)
        if (r.cmdb_ci !== "") expect(ids.get("cmdb_ci")?.has(r.cmdb_ci as string)).toBe(true)
        if (r.problem_id !== "") expect(ids.get("problem")?.has(r.problem_id as string)).toBe(true)
        if (r.caused_by !== "") expect(ids.get("change_request")?.has(r.caused_by as string)).toBe(true)
        expect(r.resolved_at !== "").toBe(r.state === "6" || r.state === "7")
        expect(r.closed_at !== "").toBe(r.state === "7")
      }
      expect(incidents.filter((r) => r.cmdb_ci !== "").length / incidents.length).toBeGreaterThan(0.8)
      // Many records share a timestamp (bulk jobs): the keyset tie-break matters.
      const perSecond = new Map<unknown, number>()
      for (const r of incidents) perSecond.set(r.sys_updated_on, (perSecond.get(r.sys_updated_on) ?? 0) + 1)
      expect(Math.max(...perSecond.values())).toBeGreaterThan(20)
      // A CI only depends on an earlier CI, so the dependency chain is acyclic.
      const cis = (yield* sim.truth("cmdb_ci")).result
      const position = new Map(cis.map((r) => [r.sys_id, Number((r.name as string).slice(-5))]))
      for (const r of cis) {
        if (r.u_depends_on !== "") expect(position.get(r.u_depends_on)).toBeLessThan(position.get(r.sys_id) as number)
      }
      const changes = (yield* sim.truth("change_request")).result
      for (const r of changes) expect(r.end_date > r.start_date).toBe(true)
    }))
})

describe("ItsmSimulator Table API", () => {
  it.scopedLive("keyset pages cover every record once, across a burst of 500 records on one timestamp", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      yield* sim.advanceClock(5)
      const burst = yield* sim.mutate({ table: "incident", updates: 500, creates: 20, sameTimestamp: true })
      expect(burst.updated.length).toBe(500)
      yield* sim.advanceClock(1)
      yield* sim.mutate({ table: "incident", updates: 7, deletes: 4 })
      const pulled = yield* pullKeyset(sim, "incident", 100)
      const truth = yield* sim.truth("incident")
      expect(pulled.length).toBe(truth.result.length)
      expect(new Set(pulled.map((r) => r.sys_id)).size).toBe(pulled.length)
      expect(new Set(pulled.map((r) => r.sys_id))).toEqual(new Set(truth.result.map((r) => r.sys_id)))
      const keys = pulled.map(keyOf)
      expect([...keys].sort()).toEqual(keys)
      const onBurst = pulled.filter((r) => r.sys_updated_on === burst.at).length
      expect(onBurst).toBe(truth.result.filter((r) => r.sys_updated_on === burst.at).length)
      expect(onBurst).toBeGreaterThan(500)
      const byId = new Map(truth.result.map((r) => [r.sys_id, r]))
      for (const r of pulled) expect(r).toEqual(byId.get(r.sys_id as string))
    }))

  it.scopedLive("the sorted index stays exact through random updates, deletes, creates and compaction", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: { ...SMALL, incident: 3000 } })
      let seed = 12345
      const next = (n: number) => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
        return seed % n
      }
      for (let round = 0; round < 40; round++) {
        if (next(3) > 0) yield* sim.advanceClock(next(2))
        yield* sim.mutate({ table: "incident", updates: next(400), deletes: next(30), creates: next(60) })
        if (round % 8 !== 7) continue
        const truth = (yield* sim.truth("incident")).result.map(keyOf).sort()
        const pulled = yield* pullKeyset(sim, "incident", 1 + next(700))
        expect(pulled.map(keyOf)).toEqual(truth)
        for (let probe = 0; probe < 5; probe++) {
          const at = next(truth.length)
          const [ts, id] = (truth[at] as string).split("|") as [string, string]
          const answer = yield* http(tableUrl(sim, "incident", { sysparm_query: keysetAfter(ts, id), sysparm_limit: 3 }))
          expect(answer.headers.get("x-total-count")).toBe(String(truth.length - at - 1))
          expect(rows(answer).map(keyOf)).toEqual(truth.slice(at + 1, at + 4))
        }
      }
      expect((yield* sim.liveCounts()).sys_audit_delete).toBeGreaterThan(0)
    }))

  it.scopedLive("offsets, Link header and X-Total-Count", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      const page = yield* http(tableUrl(sim, "incident", { sysparm_limit: 50, sysparm_offset: 100, sysparm_query: "active=true^ORstate=1" }))
      expect(page.status).toBe(400)
      const query = "state=1^ORstate=2"
      const truth = (yield* sim.truth("incident")).result.filter((r) => r.state === "1" || r.state === "2")
      const answer = yield* http(tableUrl(sim, "incident", { sysparm_limit: 50, sysparm_offset: 100, sysparm_query: query }))
      expect(answer.status).toBe(200)
      expect(rows(answer).length).toBe(50)
      expect(answer.headers.get("x-total-count")).toBe(String(truth.length))
      const links = Object.fromEntries(
        (answer.headers.get("link") ?? "").split(",").map((part) => {
          const [, url, rel] = /^<([^>]+)>;rel="(\w+)"$/.exec(part) as RegExpExecArray
          return [rel, new URL(url as string)]
        })
      )
      expect(Object.keys(links).sort()).toEqual(["first", "last", "next", "prev"])
      expect(links.first?.searchParams.get("sysparm_offset")).toBe("0")
      expect(links.prev?.searchParams.get("sysparm_offset")).toBe("50")
      expect(links.next?.searchParams.get("sysparm_offset")).toBe("150")
      expect(links.last?.searchParams.get("sysparm_offset")).toBe(String(Math.floor((truth.length - 1) / 50) * 50))
      expect(links.next?.searchParams.get("sysparm_query")).toBe(query)
      // Following `next` to the end visits every match once.
      const seen: Array<unknown> = []
      let next: string | undefined = tableUrl(sim, "incident", { sysparm_limit: 70, sysparm_query: query })
      while (next !== undefined) {
        const step: Answer = yield* http(next)
        seen.push(...rows(step).map((r) => r.sys_id))
        next = /<([^>]+)>;rel="next"/.exec(step.headers.get("link") ?? "")?.[1]
      }
      expect(seen.length).toBe(truth.length)
      expect(new Set(seen)).toEqual(new Set(truth.map((r) => r.sys_id)))
      const noCount = yield* http(tableUrl(sim, "incident", { sysparm_limit: 10, sysparm_no_count: "true" }))
      expect(noCount.headers.get("x-total-count")).toBeNull()
      expect(noCount.headers.get("link")).toContain("rel=\"next\"")
      expect(noCount.headers.get("link")).not.toContain("rel=\"last\"")
      // The keyset query's count is exact without a scan: everything after the cursor.
      const all = yield* pullKeyset(sim, "incident", 1000)
      const middle = all[250] as Row
      const rest = yield* http(tableUrl(sim, "incident", { sysparm_limit: 5, sysparm_query: keysetAfter(middle.sys_updated_on as string, middle.sys_id as string) }))
      expect(rest.headers.get("x-total-count")).toBe(String(all.length - 251))
      expect(rows(rest)[0]?.sys_id).toBe(all[251]?.sys_id)
    }))

  it.scopedLive("sysparm_fields, reference links and display values", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      const projected = rows(yield* http(tableUrl(sim, "incident", { sysparm_limit: 3, sysparm_fields: "number,caller_id,bogus,sys_id" })))
      expect(Object.keys(projected[0] as Row)).toEqual(["number", "caller_id", "sys_id"])
      const caller = (projected[0] as Row).caller_id as { link: string; value: string }
      expect(caller.link).toBe(`${sim.url}/api/now/table/sys_user/${caller.value}`)
      const user = yield* http(caller.link)
      expect((user.body?.result as Row).sys_id).toBe(caller.value)
      const raw = rows(yield* http(tableUrl(sim, "incident", { sysparm_limit: 3, sysparm_exclude_reference_link: "true" })))
      expect((raw[0] as Row).caller_id).toBe(caller.value)
      expect(raw.some((r) => r.assigned_to === "")).toBe(true)
      const withLinks = rows(yield* http(tableUrl(sim, "incident", { sysparm_limit: 50 })))
      expect(withLinks.find((r) => r.assigned_to === "")).toBeDefined()
      const display = rows(yield* http(tableUrl(sim, "incident", { sysparm_limit: 3, sysparm_display_value: "true", sysparm_exclude_reference_link: "true" })))
      expect((display[0] as Row).caller_id).toBe((user.body?.result as Row).name)
      expect(["New", "In Progress", "On Hold", "Resolved", "Closed", "Canceled"]).toContain((display[0] as Row).state)
      const both = rows(yield* http(tableUrl(sim, "incident", { sysparm_limit: 3, sysparm_display_value: "all" })))
      const pair = (both[0] as Row).priority as { display_value: string; value: string }
      expect(pair.display_value).toMatch(new RegExp(`^${pair.value} - `))
      const callerAll = (both[0] as Row).caller_id as { display_value: string; value: string; link: string }
      expect(callerAll).toEqual({ display_value: (user.body?.result as Row).name, value: caller.value, link: caller.link })
      const missing = yield* http(`${sim.url}/api/now/table/incident/${"0".repeat(32)}`)
      expect(missing.status).toBe(404)
      expect(missing.body).toEqual({
        error: { message: "No Record found", detail: "Record doesn't exist or ACL restricts the record retrieval" },
        status: "failure"
      })
    }))

  it.scopedLive("answers bad requests with ServiceNow's error shape", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      const unknown = yield* http(tableUrl(sim, "nope", {}))
      expect(unknown.status).toBe(400)
      expect(unknown.body).toEqual({ error: { message: "Invalid table nope", detail: null }, status: "failure" })
      for (const [query, needle] of [
        ["bogus=1", "bogus"],
        ["state~1", "~1"],
        ["=1", "=1"],
        ["sys_updated_on>2026-02-30 00:00:00", "2026-02-30"],
        ["sys_updated_on>yesterday", "yesterday"],
        ["ORstate=1", "ORstate=1"],
        ["ORDERBYbogus", "bogus"],
        ["caller_id.name=x", "caller_id.name"]
      ] as const) {
        const answer = yield* http(tableUrl(sim, "incident", { sysparm_query: query }))
        expect(answer.status, query).toBe(400)
        expect(answer.body?.error?.message, query).toContain(needle)
      }
      for (const params of [{ sysparm_limit: "x" }, { sysparm_limit: -1 }, { sysparm_limit: 0 }, { sysparm_offset: "1.5" }]) {
        const answer = yield* http(tableUrl(sim, "incident", params))
        expect(answer.status).toBe(400)
        expect(answer.body?.status).toBe("failure")
      }
    }))

  it.scopedLive("evaluates the encoded query subset like a filter over the truth", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      const truth = (yield* sim.truth("incident")).result
      const some = truth.slice(10, 14).map((r) => r.sys_id as string)
      const cases: ReadonlyArray<readonly [string, (r: Row) => boolean]> = [
        [`sys_idIN${some.join(",")}`, (r) => some.includes(r.sys_id as string)],
        ["priority=1^ORpriority=2^state!=7", (r) => (r.priority === "1" || r.priority === "2") && r.state !== "7"],
        ["state=6^NQstate=7^category=network", (r) => r.state === "6" || (r.state === "7" && r.category === "network")],
        ["assigned_toISEMPTY^stateIN1,2", (r) => r.assigned_to === "" && (r.state === "1" || r.state === "2")],
        ["problem_idISNOTEMPTY", (r) => r.problem_id !== ""],
        ["numberSTARTSWITHINC00001", (r) => (r.number as string).startsWith("INC00001")],
        ["short_descriptionLIKEvpn", (r) => (r.short_description as string).toLowerCase().includes("vpn")],
        ["sys_mod_count>=5^reopen_count<1", (r) => Number(r.sys_mod_count) >= 5 && Number(r.reopen_count) < 1],
        ["opened_at<2026-01-01 00:00:00", (r) => (r.opened_at as string) < "2026-01-01 00:00:00"],
        ["sys_updated_on>=2026-02-01 00:00:00^sys_updated_on<2026-02-10 00:00:00", (r) =>
          (r.sys_updated_on as string) >= "2026-02-01 00:00:00" && (r.sys_updated_on as string) < "2026-02-10 00:00:00"]
      ]
      for (const [query, predicate] of cases) {
        const answer = yield* http(tableUrl(sim, "incident", { sysparm_query: query, sysparm_exclude_reference_link: "true", sysparm_limit: 10_000 }))
        expect(answer.status, query).toBe(200)
        const expected = truth.filter(predicate).map(keyOf).sort()
        expect(rows(answer).map(keyOf), query).toEqual(expected)
        expect(answer.headers.get("x-total-count"), query).toBe(String(expected.length))
      }
      const desc = rows(yield* http(tableUrl(sim, "incident", { sysparm_query: "ORDERBYDESCnumber", sysparm_limit: 5 })))
      expect(desc.map((r) => r.number)).toEqual(truth.map((r) => r.number as string).sort().reverse().slice(0, 5))
      const byPriority = rows(yield* http(tableUrl(sim, "incident", { sysparm_query: "ORDERBYpriority^ORDERBYDESCnumber", sysparm_limit: 10_000 })))
      expect(byPriority.map((r) => `${r.priority}-${r.number}`)).toEqual(
        truth.map((r) => ({ p: r.priority as string, n: r.number as string }))
          .sort((a, b) => (a.p === b.p ? (a.n < b.n ? 1 : -1) : a.p < b.p ? -1 : 1)).map(({ n, p }) => `${p}-${n}`)
      )
      const latest = rows(yield* http(tableUrl(sim, "incident", { sysparm_query: "ORDERBYDESCsys_updated_on", sysparm_limit: 3 })))
      expect(latest.map((r) => r.sys_updated_on)).toEqual(truth.map((r) => r.sys_updated_on as string).sort().reverse().slice(0, 3))
    }))
})

describe("ItsmSimulator auth, limits and faults", () => {
  it.scopedLive("OAuth client credentials, Basic auth, and 401 once tokens expire", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL, auth: "oauth" })
      const denied = yield* http(tableUrl(sim, "incident", { sysparm_limit: 1 }))
      expect(denied.status).toBe(401)
      expect(denied.body).toEqual({
        error: { message: "User Not Authenticated", detail: "Required to provide Auth information" },
        status: "failure"
      })
      const token = (form: string) =>
        http(`${sim.url}/oauth_token.do`, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: form
        })
      const wrong = yield* token("grant_type=client_credentials&client_id=tidemark&client_secret=nope")
      expect(wrong.status).toBe(401)
      expect((wrong.body as unknown as { error: string }).error).toBe("access_denied")
      const issued = yield* token("grant_type=client_credentials&client_id=tidemark&client_secret=tidemark-secret")
      expect(issued.status).toBe(200)
      const grant = issued.body as unknown as { access_token: string; token_type: string; expires_in: number; scope: string }
      expect(grant.token_type).toBe("Bearer")
      expect(grant.expires_in).toBeGreaterThan(0)
      expect(grant.scope).toBe("useraccount")
      const bearer = { headers: { Authorization: `Bearer ${grant.access_token}` } }
      expect((yield* http(tableUrl(sim, "incident", { sysparm_limit: 1 }), bearer)).status).toBe(200)
      const basic = { headers: { Authorization: `Basic ${Buffer.from("admin:admin").toString("base64")}` } }
      expect((yield* http(tableUrl(sim, "incident", { sysparm_limit: 1 }), basic)).status).toBe(200)
      expect(yield* sim.expireTokens()).toBe(1)
      expect((yield* http(tableUrl(sim, "incident", { sysparm_limit: 1 }), bearer)).status).toBe(401)
      expect((yield* http(tableUrl(sim, "incident", { sysparm_limit: 1 }), { headers: { Authorization: "Bearer made-up" } })).status).toBe(401)
      expect((yield* sim.stats()).tokensIssued).toBe(1)
    }))

  it.scopedLive("rate limits per credential with 429, Retry-After and X-RateLimit headers", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL, rateLimit: { perSecond: 2, burst: 2 } })
      const answers = []
      for (let i = 0; i < 3; i++) answers.push(yield* http(tableUrl(sim, "incident", { sysparm_limit: 1 })))
      expect(answers.map((a) => a.status)).toEqual([200, 200, 429])
      const limited = answers[2] as Answer
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      expect(limited.headers.get("x-ratelimit-limit")).toBe("2")
      expect(Number(limited.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000)
      expect(limited.body?.status).toBe("failure")
      expect((yield* sim.stats()).rateLimited).toBe(1)
      yield* sim.setRateLimit({ perSecond: 0 })
      expect((yield* http(tableUrl(sim, "incident", { sysparm_limit: 1 }))).status).toBe(200)
    }))

  it.scopedLive("injects 5xx, timeouts, truncated bodies and invalid records", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      const url = tableUrl(sim, "incident", { sysparm_limit: 5 })
      yield* postJson(`${sim.url}/__sim/faults`, { kind: "5xx", count: 2, status: 503, table: "incident" })
      expect((yield* http(tableUrl(sim, "problem", { sysparm_limit: 1 }))).status).toBe(200)
      const failed = yield* http(url)
      expect(failed.status).toBe(503)
      expect(failed.body?.status).toBe("failure")
      expect((yield* http(url)).status).toBe(503)
      expect((yield* http(url)).status).toBe(200)

      yield* sim.addFault({ kind: "timeout" })
      const timedOut = yield* Effect.promise(() =>
        fetch(url, { signal: AbortSignal.timeout(300) }).then(() => "answered", (e: Error) => e.name)
      )
      expect(timedOut).toBe("TimeoutError")

      yield* sim.addFault({ kind: "truncate" })
      const truncated = yield* Effect.promise(() =>
        fetch(url).then(async (r) => ({ status: r.status, body: await r.text().then(() => "complete", () => "cut") }))
      )
      expect(truncated).toEqual({ status: 200, body: "cut" })

      yield* sim.addFault({ kind: "invalid-record" })
      const invalid = rows(yield* http(url))
      expect((invalid[0] as Row).sys_updated_on).toBe("not-a-date")
      expect((rows(yield* http(url))[0] as Row).sys_updated_on).not.toBe("not-a-date")

      const marked = yield* postJson(`${sim.url}/__sim/invalid`, { table: "incident", count: 2 })
      const invalidIds = (marked.body as unknown as { invalid: Array<string> }).invalid
      expect(invalidIds.length).toBe(2)
      for (let i = 0; i < 2; i++) {
        const one = yield* http(`${sim.url}/api/now/table/incident/${invalidIds[0]}`)
        expect((one.body?.result as Row).sys_updated_on).toBe("not-a-date")
      }
      expect((yield* sim.truth("incident")).invalid).toEqual([...invalidIds].sort())

      yield* sim.addFault({ kind: "5xx", rate: 0.5 })
      const statuses = []
      for (let i = 0; i < 40; i++) statuses.push((yield* http(url)).status)
      expect(statuses.filter((s) => s === 500).length).toBeGreaterThan(5)
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(5)
      expect((yield* http(`${sim.url}/__sim/faults`, { method: "DELETE" })).status).toBe(200)
      for (let i = 0; i < 5; i++) expect((yield* http(url)).status).toBe(200)
      const stats = yield* sim.stats()
      expect(stats.byStatus["503"]).toBe(2)
      const log = yield* sim.requests()
      expect(log.some((entry) => entry.status === 0)).toBe(true)
    }))

  it.scopedLive("applies latency, and none at zero", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      const url = tableUrl(sim, "incident", { sysparm_limit: 1 })
      yield* postJson(`${sim.url}/__sim/latency`, { ms: 150, jitterMs: 20 })
      const slowStart = performance.now()
      expect((yield* http(url)).status).toBe(200)
      expect(performance.now() - slowStart).toBeGreaterThanOrEqual(145)
      yield* sim.setLatency({ ms: 0 })
      const fastStart = performance.now()
      yield* http(url)
      expect(performance.now() - fastStart).toBeLessThan(100)
    }))
})

describe("ItsmSimulator mutations, audit and webhooks", () => {
  it.scopedLive("deletes leave sys_audit_delete rows and 404s; the control API mutates and reports", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      const before = yield* sim.now()
      yield* sim.advanceClock(30)
      const answer = yield* postJson(`${sim.url}/__sim/mutate`, { table: "incident", deletes: 5, creates: 2, updates: 3 })
      expect(answer.status).toBe(200)
      const result = answer.body as unknown as { created: Array<string>; updated: Array<string>; deleted: Array<string>; at: string }
      expect(result.deleted.length).toBe(5)
      expect(result.at > before).toBe(true)
      const audit = yield* http(tableUrl(sim, "sys_audit_delete", {
        sysparm_query: `tablename=incident^sys_created_on>=${result.at}^ORDERBYsys_created_on`
      }))
      const auditRows = rows(audit)
      expect(auditRows.map((r) => r.documentkey).sort()).toEqual([...result.deleted].sort())
      for (const r of auditRows) {
        expect(r.tablename).toBe("incident")
        expect(r.sys_created_on).toBe(result.at)
        expect(r.sys_id).toMatch(/^[0-9a-f]{32}$/)
      }
      expect((yield* http(`${sim.url}/api/now/table/incident/${result.deleted[0]}`)).status).toBe(404)
      const created = yield* http(`${sim.url}/api/now/table/incident/${result.created[0]}?sysparm_exclude_reference_link=true`)
      expect((created.body?.result as Row).sys_created_on).toBe(result.at)
      expect((created.body?.result as Row).state).toBe("1")
      const updated = (yield* http(`${sim.url}/api/now/table/incident/${result.updated[0]}`)).body?.result as Row
      expect(updated.sys_updated_on).toBe(result.at)
      const truth = yield* http(`${sim.url}/__sim/truth/incident`)
      const truthBody = truth.body as unknown as { result: Array<Row>; deleted: Array<string> }
      expect(truthBody.result.length).toBe(SMALL.incident - 5 + 2)
      expect(truthBody.deleted.sort()).toEqual([...result.deleted].sort())
      expect(truthBody).toEqual(JSON.parse(JSON.stringify(yield* sim.truth("incident"))))
      const keyed = yield* sim.mutate({ table: "incident", keys: [result.created[0] as string], deletes: 1 })
      expect(keyed.deleted).toEqual([result.created[0]])
      const refused = yield* postJson(`${sim.url}/__sim/mutate`, { table: "incident", keys: [result.deleted[0]] })
      expect(refused.status).toBe(400)
      expect((yield* postJson(`${sim.url}/__sim/mutate`, { table: "nope", creates: 1 })).status).toBe(400)
      expect((yield* postJson(`${sim.url}/__sim/mutate`, { table: "incident", creates: -1 })).status).toBe(400)
      const clock = yield* postJson(`${sim.url}/__sim/clock`, { advanceSeconds: 3600 })
      expect((clock.body as unknown as { now: string }).now > result.at).toBe(true)
      const stats = (yield* http(`${sim.url}/__sim/stats`)).body as unknown as { requests: number; byStatus: Record<string, number> }
      expect(stats.byStatus["404"]).toBe(1)
      const log = (yield* http(`${sim.url}/__sim/requests?since=1`)).body as unknown as Array<{ seq: number; table: string; count: number; firstKey: string | null }>
      expect(log[0]?.seq).toBe(2)
      expect(log.length).toBe(stats.requests - 1)
    }))

  it.scopedLive("posts each change to the webhook with a valid HMAC, in mutation order", () =>
    Effect.gen(function*() {
      const received: Array<{ body: string; signature: string | undefined }> = []
      const receiver = yield* Effect.acquireRelease(
        Effect.async<ReturnType<typeof createServer>>((resume) => {
          const server = createServer((req: IncomingMessage, res) => {
            const chunks: Array<Buffer> = []
            req.on("data", (c: Buffer) => chunks.push(c))
            req.on("end", () => {
              received.push({ body: Buffer.concat(chunks).toString("utf8"), signature: req.headers["x-signature-sha256"] as string | undefined })
              res.writeHead(204).end()
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
      )
      const address = receiver.address() as { port: number }
      const sim = yield* start({ counts: SMALL })
      yield* postJson(`${sim.url}/__sim/webhooks`, { url: `http://127.0.0.1:${address.port}/hook`, secret: "s3cret" })
      const first = yield* sim.mutate({ table: "incident", creates: 2, updates: 2, deletes: 1 })
      const second = yield* sim.mutate({ table: "incident", keys: [first.created[0] as string] })
      for (let i = 0; i < 100 && received.length < 6; i++) yield* Effect.sleep("20 millis")
      expect(received.length).toBe(6)
      const events = received.map(({ body, signature }) => {
        expect(signature).toBe(createHmac("sha256", "s3cret").update(body).digest("hex"))
        return JSON.parse(body) as { table: string; operation: string; sys_id: string; sys_updated_on: string; record: Row | null }
      })
      expect(events.map((e) => `${e.operation}:${e.sys_id}`)).toEqual([
        ...first.created.map((id) => `insert:${id}`),
        ...first.updated.map((id) => `update:${id}`),
        ...first.deleted.map((id) => `delete:${id}`),
        ...second.updated.map((id) => `update:${id}`)
      ])
      expect(events[2]?.record?.sys_id).toBe(first.updated[0])
      expect(events[4]?.record).toBeNull()
      expect(events[5]?.record?.sys_mod_count).toBe("1")
      expect(events.every((e) => e.table === "incident")).toBe(true)
      // The receiver can hold the bodies a moment before the simulator has counted the answers.
      let delivered = 0
      for (let i = 0; i < 100 && delivered < 6; i++) {
        delivered = (yield* sim.stats()).webhooksDelivered
        if (delivered < 6) yield* Effect.sleep("20 millis")
      }
      expect(delivered).toBe(6)
      yield* sim.setWebhook({ url: "http://127.0.0.1:1/unreachable", secret: "x" })
      yield* sim.mutate({ table: "incident", updates: 1 })
      for (let i = 0; i < 100 && (yield* sim.stats()).webhooksFailed === 0; i++) yield* Effect.sleep("20 millis")
      expect((yield* sim.stats()).webhooksFailed).toBe(1)
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Error)))

  it.scopedLive("runs a background mutation stream and stops it", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL, clock: "realtime" })
      yield* postJson(`${sim.url}/__sim/stream`, { perSecond: 100, mix: { create: 1, update: 1, delete: 1 }, tables: ["incident"] })
      yield* Effect.sleep("700 millis")
      yield* postJson(`${sim.url}/__sim/stream`, { perSecond: 0 })
      const counts = yield* sim.liveCounts()
      const mutated = (yield* sim.stats()).mutations
      expect(mutated).toBeGreaterThan(0)
      expect(counts.sys_audit_delete).toBeGreaterThan(0)
      yield* Effect.sleep("300 millis")
      expect((yield* sim.stats()).mutations).toBe(mutated)
      const pulled = yield* pullKeyset(sim, "incident", 200)
      expect(pulled.length).toBe(counts.incident)
    }))
})

describe("ItsmSimulator with the adapter's queries", () => {
  it.scopedLive("every served record decodes with the adapter's entity schemas", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      yield* sim.mutate({ table: "incident", creates: 20, updates: 40, deletes: 5 })
      for (const entity of ItsmEntities.itsmEntities) {
        const served = yield* pullKeyset(sim, entity.table, 500)
        expect(served.length).toBeGreaterThan(0)
        for (const raw of served) {
          const decoded = entity.decodeRecord(raw)
          if (decoded._tag === "Left") expect.fail(`${entity.table}: ${JSON.stringify(decoded.left)}`)
        }
      }
    }))

  it.scopedLive("lists keys in sys_id order across merged creates, finds the high-water mark, pages audit rows", () =>
    Effect.gen(function*() {
      const sim = yield* start({ counts: SMALL })
      yield* sim.advanceClock(10)
      yield* sim.mutate({ table: "incident", creates: 4200, deletes: 30 })
      yield* sim.advanceClock(1)
      const last = yield* sim.mutate({ table: "incident", creates: 3, deletes: 1200, updates: 2 })
      const keys: Array<string> = []
      let query = "ORDERBYsys_id"
      for (;;) {
        const page = rows(yield* http(tableUrl(sim, "incident", {
          sysparm_query: query,
          sysparm_fields: "sys_id,sys_updated_on",
          sysparm_limit: 1000,
          sysparm_no_count: "true"
        })))
        keys.push(...page.map((r) => r.sys_id as string))
        if (page.length < 1000) break
        query = `sys_id>${keys[keys.length - 1]}^ORDERBYsys_id`
      }
      const truth = yield* sim.truth("incident")
      expect(keys).toEqual(truth.result.map((r) => r.sys_id as string))
      expect(keys).toEqual([...keys].sort())

      const newest = rows(yield* http(tableUrl(sim, "incident", {
        sysparm_query: "ORDERBYDESCsys_updated_on^ORDERBYDESCsys_id",
        sysparm_fields: "sys_updated_on",
        sysparm_limit: 1
      })))
      expect(newest).toEqual([{ sys_updated_on: last.at }])

      const deletions: Array<Row> = []
      let after: Row | undefined
      for (;;) {
        const order = "ORDERBYsys_created_on^ORDERBYsys_id"
        const auditQuery = after === undefined
          ? `tablename=incident^sys_created_on>=${BASE_TIME}^${order}`
          : `tablename=incident^sys_created_on>${after.sys_created_on}^NQtablename=incident^sys_created_on=${after.sys_created_on}^sys_id>${after.sys_id}^${order}`
        const page = rows(yield* http(tableUrl(sim, "sys_audit_delete", {
          sysparm_query: auditQuery,
          sysparm_fields: "sys_id,documentkey,sys_created_on,tablename",
          sysparm_limit: 500
        })))
        deletions.push(...page)
        if (page.length < 500) break
        after = page[page.length - 1]
      }
      expect(deletions.length).toBe(1230)
      expect(new Set(deletions.map((r) => r.documentkey))).toEqual(new Set(truth.deleted))
      expect(deletions.filter((r) => r.sys_created_on === last.at).length).toBe(1200)

      const lookback = rows(yield* http(tableUrl(sim, "incident", {
        sysparm_query: `sys_updated_on>=${last.at}^ORDERBYsys_updated_on^ORDERBYsys_id`,
        sysparm_exclude_reference_link: "true"
      })))
      expect(lookback.map((r) => r.sys_id).sort()).toEqual([...last.created, ...last.updated].sort())
    }))
})
