/**
 * The ITSM adapter against the simulator over real HTTP: paging, ties, moving targets, rate limits,
 * faults, invalid records and tokens.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { expect, layer } from "@effect/vitest"
import { type Adapter, RateBudget, SourceHttp } from "@tidemark/adapter-core"
import { Effect, Layer, Option, Redacted, Stream } from "effect"
import { itsmEntities } from "../src/ItsmEntities.js"
import { ItsmSimulator } from "../src/simulator/index.js"
import * as TableApiAdapter from "../src/TableApiAdapter.js"
import { parseDateTime } from "../src/TableField.js"

const counts = {
  sys_user: 150,
  sys_user_group: 12,
  cmdb_ci: 200,
  change_request: 120,
  problem: 60,
  incident: 1200,
  em_event: 300
}

const Simulator = ItsmSimulator.layer({ seed: 7, counts, baseTime: "2026-06-01 12:00:00", clock: "manual" })
const Http = Layer.merge(NodeHttpClient.layerUndici, RateBudget.layer)

const adapterFor = (sim: ItsmSimulator.SimulatorHandle, overrides: Partial<TableApiAdapter.ItsmAdapterOptions> = {}) =>
  TableApiAdapter.make({
    baseUrl: sim.url,
    org: `org-${Math.random().toString(36).slice(2)}`,
    auth: {
      _tag: "OAuthClientCredentials",
      tokenUrl: `${sim.url}/oauth_token.do`,
      clientId: sim.credentials.clientId,
      clientSecret: Redacted.make(sim.credentials.clientSecret)
    },
    retryBaseMillis: 5,
    retryMaxMillis: 50,
    ...overrides
  })

/** Pages through an entity from a position, returning every page. */
const pageAll = (
  adapter: Adapter.Adapter,
  entity: string,
  limit: number,
  after: Option.Option<Adapter.Position> = Option.none(),
  beforeEachPage: (index: number) => Effect.Effect<void> = () => Effect.void
) =>
  Effect.gen(function*() {
    const pages: Array<Adapter.Page> = []
    let position = after
    for (let index = 0;; index++) {
      yield* beforeEachPage(index)
      const page = yield* adapter.fetchPage({ entity, after: position, limit })
      pages.push(page)
      if (!page.hasMore || Option.isNone(page.last)) return pages
      position = page.last
    }
  })

const keysOf = (pages: ReadonlyArray<Adapter.Page>) => pages.flatMap((p) => p.records.map((r) => r.key))

layer(Layer.merge(Simulator, Http), { excludeTestServices: true, timeout: "120 seconds" })("ITSM adapter contract", (it) => {
  it.effect("every entity pages completely, each record once, equal to the source", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim)
      for (const entity of itsmEntities) {
        const pages = yield* pageAll(adapter, entity.table, 100)
        const truth = yield* sim.truth(entity.table)
        const keys = keysOf(pages)
        expect(new Set(keys).size, entity.table).toBe(keys.length)
        expect([...keys].sort(), entity.table).toEqual(truth.result.map((r) => r.sys_id).sort())
        expect(pages.flatMap((p) => p.invalid)).toEqual([])
        const byKey = new Map(truth.result.map((r) => [r.sys_id, r]))
        for (const page of pages) {
          for (const record of page.records) expect(record.raw).toEqual(byKey.get(record.key))
        }
        // Pages come in (cursor, key) order.
        const order = pages.flatMap((p) => p.records.map((r) => `${r.cursor!.toISOString()}|${r.key}`))
        expect(order).toEqual([...order].sort())
      }
    }))

  it.effect("1,000 records on one sys_updated_on across pages of 100: none missed, none twice", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim)
      yield* sim.advanceClock(60)
      const burst = yield* sim.mutate({ table: "incident", updates: 1000, sameTimestamp: true })
      expect(burst.updated.length).toBe(1000)
      const at = parseDateTime(burst.at)
      const pages = yield* pageAll(adapter, "incident", 100, Option.some({ cursor: at, key: "" }))
      const keys = keysOf(pages)
      expect(keys.length).toBe(1000)
      expect(new Set(keys)).toEqual(new Set(burst.updated))
      expect(pages.every((p) => p.records.every((r) => r.cursor!.getTime() === at.getTime()))).toBe(true)
      // A lookback start re-reads the same second and everything after it.
      const fromLookback = yield* adapter.fetchPage({
        entity: "incident",
        after: Option.some({ cursor: new Date(at.getTime() + 5000), key: "ffff" }),
        lookback: "10 seconds",
        limit: 2000
      })
      expect(new Set(fromLookback.records.map((r) => r.key))).toEqual(new Set(burst.updated))
    }))

  it.effect("records updated while paging are not skipped", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim)
      const before = yield* sim.truth("problem")
      const ordered = [...before.result].sort((a, b) =>
        a.sys_updated_on === b.sys_updated_on
          ? (a.sys_id < b.sys_id ? -1 : 1)
          : (a.sys_updated_on < b.sys_updated_on ? -1 : 1)
      )
      // After the second page: touch records already read and records not read yet.
      const touched = [ordered[3]!.sys_id, ordered[40]!.sys_id, ordered[50]!.sys_id]
      const pages = yield* pageAll(adapter, "problem", 10, Option.none(), (index) =>
        index === 2
          ? Effect.asVoid(
            Effect.zipRight(sim.advanceClock(5), Effect.orDie(sim.mutate({ table: "problem", updateKeys: touched })))
          )
          : Effect.void)
      const after = yield* sim.truth("problem")
      const seen = new Map<string, unknown>()
      for (const record of pages.flatMap((p) => p.records)) seen.set(record.key, record.raw)
      expect(new Set(seen.keys())).toEqual(new Set(after.result.map((r) => r.sys_id)))
      for (const key of touched) expect(seen.get(key)).toEqual(after.result.find((r) => r.sys_id === key))
    }))

  it.effect("429s are waited out, honouring Retry-After", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim)
      const statsBefore = yield* sim.stats()
      yield* sim.setRateLimit({ perSecond: 4, burst: 2 })
      const pages = yield* Effect.forEach(
        Array.from({ length: 8 }),
        () => adapter.fetchPage({ entity: "sys_user_group", after: Option.none(), limit: 5 }),
        { concurrency: "unbounded" }
      ).pipe(Effect.ensuring(sim.setRateLimit({ perSecond: 0 })))
      expect(pages.every((p) => p.records.length === 5)).toBe(true)
      const statsAfter = yield* sim.stats()
      expect(statsAfter.rateLimited).toBeGreaterThan(statsBefore.rateLimited)
    }))

  it.effect("5xx, truncated bodies and timeouts are retried", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim, { timeoutMillis: 400 })
      const since = (yield* sim.requests()).at(-1)?.seq ?? 0
      yield* sim.addFault({ kind: "5xx", count: 2, table: "cmdb_ci", status: 503 })
      yield* sim.addFault({ kind: "truncate", count: 1, table: "cmdb_ci" })
      yield* sim.addFault({ kind: "timeout", count: 1, table: "cmdb_ci" })
      const page = yield* adapter.fetchPage({ entity: "cmdb_ci", after: Option.none(), limit: 50 })
      expect(page.records.length).toBe(50)
      const log = (yield* sim.requests(since)).filter((e) => e.table === "cmdb_ci")
      // 503 twice, a 200 whose body was cut short, one that never answered (0), then the good one.
      expect(log.map((e) => e.status)).toEqual([503, 503, 200, 0, 200])
    }).pipe(Effect.ensuring(Effect.flatMap(ItsmSimulator.ItsmSimulator, (sim) => sim.clearFaults()))))

  it.effect("5xx that persists fails with a tagged error naming the call", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim, { maxRetries: 2 })
      yield* sim.addFault({ kind: "5xx", count: 3, table: "em_event", status: 502 })
      const error = yield* Effect.flip(adapter.fetchPage({ entity: "em_event", after: Option.none(), limit: 5 }))
      expect(error._tag).toBe("SourceStatusError")
      if (error._tag === "SourceStatusError") {
        expect(error.status).toBe(502)
        expect(error.attempts).toBe(3)
        expect(error.entity).toBe("em_event")
        expect(error.message).toContain("/api/now/table/em_event")
      }
    }).pipe(Effect.ensuring(Effect.flatMap(ItsmSimulator.ItsmSimulator, (sim) => sim.clearFaults()))))

  it.effect("a 400 is not retried and carries the source's message", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const budgets = yield* RateBudget.RateBudgets
      const http = yield* SourceHttp.make({
        adapter: "itsm",
        org: "acme",
        baseUrl: sim.url,
        auth: { _tag: "Basic", username: "admin", password: Redacted.make("admin") }
      }).pipe(Effect.provideService(RateBudget.RateBudgets, budgets))
      const error = yield* Effect.flip(http.getJson("/api/now/table/no_such_table", {}, "no_such_table"))
      expect(error._tag).toBe("SourceStatusError")
      if (error._tag === "SourceStatusError") {
        expect(error.status).toBe(400)
        expect(error.attempts).toBe(1)
        expect(error.sourceMessage).toBe("Invalid table no_such_table")
      }
    }))

  it.effect("invalid records come back as typed failures carrying the raw body", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim)
      const truth = yield* sim.truth("change_request")
      const victim = truth.result[5]!.sys_id
      yield* sim.markInvalid({ table: "change_request", sys_ids: [victim] })
      const pages = yield* pageAll(adapter, "change_request", 25)
      const invalid = pages.flatMap((p) => p.invalid)
      expect(invalid.length).toBe(1)
      expect(invalid[0]!._tag).toBe("InvalidRecord")
      expect(invalid[0]!.entity).toBe("change_request")
      expect(invalid[0]!.key).toBe(victim)
      expect(typeof invalid[0]!.raw).toBe("object")
      expect(invalid[0]!.reason.length).toBeGreaterThan(0)
      expect(keysOf(pages)).not.toContain(victim)
      expect(keysOf(pages).length).toBe(truth.result.length - 1)
    }))

  it.effect("an expired token is refreshed once, not per request", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim)
      const start = (yield* sim.stats()).tokensIssued
      yield* Effect.forEach(Array.from({ length: 6 }), () =>
        adapter.fetchPage({ entity: "sys_user", after: Option.none(), limit: 3 }), { concurrency: "unbounded" })
      expect((yield* sim.stats()).tokensIssued).toBe(start + 1)
      const expired = yield* sim.expireTokens()
      expect(expired).toBeGreaterThanOrEqual(1)
      const pages = yield* Effect.forEach(Array.from({ length: 10 }), () =>
        adapter.fetchPage({ entity: "sys_user", after: Option.none(), limit: 3 }), { concurrency: "unbounded" })
      expect(pages.every((p) => p.records.length === 3)).toBe(true)
      expect((yield* sim.stats()).tokensIssued).toBe(start + 2)
    }))

  it.effect("keys, records by key, deletions and the high-water mark", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim)
      yield* sim.advanceClock(30)
      const cutoff = parseDateTime(yield* sim.now())
      const removed = yield* sim.mutate({ table: "em_event", deletes: 7 })
      const truth = yield* sim.truth("em_event")
      const keys = yield* Stream.runCollect(adapter.streamKeys("em_event", 40))
      expect([...keys].map((k) => k.key)).toEqual(truth.result.map((r) => r.sys_id).sort())
      const deletions = yield* Stream.runCollect(adapter.deletionsSince("em_event", cutoff))
      expect(new Set([...deletions].map((d) => d.key))).toEqual(new Set(removed.deleted))
      const some = truth.result.slice(0, 3).map((r) => r.sys_id)
      const byKey = yield* adapter.fetchByKeys("em_event", [...some, removed.deleted[0]!])
      expect(byKey.records.map((r) => r.key).sort()).toEqual([...some].sort())
      const high = yield* adapter.highWater("em_event")
      const newest = truth.result.map((r) => r.sys_updated_on).sort().at(-1)!
      expect(Option.getOrThrow(high)).toEqual(parseDateTime(newest))
    }))

  it.effect("counts an entity with its low water, and finds the cursors at offsets of its keyset order", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const adapter = yield* adapterFor(sim)
      const truth = (yield* sim.truth("incident")).result
        .map((r) => ({ cursor: r.sys_updated_on, key: r.sys_id }))
        .sort((a, b) => a.cursor < b.cursor ? -1 : a.cursor > b.cursor ? 1 : a.key < b.key ? -1 : 1)
      const counted = yield* adapter.lowWaterAndCount!("incident")
      expect(Option.getOrThrow(counted.count)).toBe(truth.length)
      expect(Option.getOrThrow(counted.lowWater)).toEqual(parseDateTime(truth[0]!.cursor))
      const offsets = [0, Math.floor(truth.length / 2), truth.length - 1, truth.length + 10]
      const cursors = yield* adapter.cursorsAt!("incident", offsets)
      expect(cursors.map(Option.getOrNull)).toEqual([
        parseDateTime(truth[0]!.cursor),
        parseDateTime(truth[Math.floor(truth.length / 2)]!.cursor),
        parseDateTime(truth[truth.length - 1]!.cursor),
        null
      ])
    }))
})
