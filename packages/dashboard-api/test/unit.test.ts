/** The parts that need no database: the risk formula, token access and the list cursor. */
import { expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Redacted } from "effect"
import { DashboardAccess, Risk } from "../src/index.js"
import { decodeCursor, encodeCursor } from "../src/ListParams.js"
import type { IncidentRow } from "../src/Records.js"

const HOUR = 3_600_000
const asOf = new Date("2026-06-01T12:00:00Z")

const incident = (overrides: Partial<IncidentRow> = {}): IncidentRow => ({
  key: "a".repeat(32),
  number: "INC0000001",
  short_description: "",
  category: "software",
  state: 2,
  priority: 3,
  impact: 2,
  urgency: 2,
  caller_id: null,
  cmdb_ci: "c".repeat(32),
  assignment_group: null,
  assigned_to: null,
  problem_id: null,
  caused_by: null,
  opened_at: new Date(asOf.getTime() - HOUR),
  resolved_at: null,
  closed_at: null,
  reopen_count: 0,
  made_sla: true,
  source_updated_at: asOf,
  ...overrides
})

const score = (row: IncidentRow, counts: { others?: number; changes?: number; events?: number } = {}) =>
  Risk.score({
    incident: row,
    asOf,
    otherOpenIncidents: { count: counts.others ?? 0, items: [] },
    nearbyChanges: { count: counts.changes ?? 0, items: [] },
    criticalEvents: { count: counts.events ?? 0, items: [] }
  })
const points = (result: ReturnType<typeof score>) => Object.fromEntries(result.factors.map((f) => [f.factor, f.points]))

it("risk: a quiet, fresh P3 is low; every factor is listed even at 0", () => {
  const result = score(incident())
  expect(points(result)).toEqual({
    priority: 10,
    ci_open_incidents: 0,
    nearby_changes: 0,
    critical_events: 0,
    sla_age: 0,
    reopens: 0
  })
  expect(result.score).toBe(10)
  expect(result.level).toBe("low")
})

it("risk: factors are capped one by one and the score at 100", () => {
  const result = score(
    incident({ priority: 1, opened_at: new Date(asOf.getTime() - 5 * HOUR), reopen_count: 4 }),
    { others: 9, changes: 5, events: 7 }
  )
  expect(points(result)).toEqual({
    priority: 30,
    ci_open_incidents: 20,
    nearby_changes: 20,
    critical_events: 15,
    sla_age: 15,
    reopens: 10
  })
  expect(result.score).toBe(100)
  expect(result.level).toBe("critical")
})

it("risk: SLA age — half the target, past it, flagged, or closed", () => {
  const p2 = (hoursOpen: number, overrides: Partial<IncidentRow> = {}) =>
    points(score(incident({ priority: 2, opened_at: new Date(asOf.getTime() - hoursOpen * HOUR), ...overrides }))).sla_age
  expect(p2(3.9)).toBe(0)
  expect(p2(4)).toBe(7)
  expect(p2(8)).toBe(15)
  expect(p2(1, { made_sla: false })).toBe(15)
  expect(p2(100, { state: 7 })).toBe(0)
  expect(p2(100, { priority: null })).toBe(0)
})

it("risk: levels at 25, 50 and 75", () => {
  expect([0, 24, 25, 49, 50, 74, 75, 100].map(Risk.levelOf)).toEqual(
    ["low", "low", "medium", "medium", "high", "high", "critical", "critical"]
  )
})

it.effect("access: a token grants its org, admin implies read, and nothing else gets in", () =>
  Effect.gen(function*() {
    const access = DashboardAccess.make({
      one: { orgs: ["acme"], scopes: ["read"] },
      admin: { orgs: ["acme"], scopes: ["admin"] },
      two: { orgs: ["acme", "globex"], scopes: ["read"] }
    })
    const grant = (token: string, org?: string) =>
      access.authenticate(Redacted.make(token), Option.fromNullable(org)).pipe(Effect.exit)
    const ok = yield* access.authenticate(Redacted.make("one"), Option.none())
    expect(ok.orgId).toBe("acme")
    expect([...ok.scopes]).toEqual(["read"])
    const admin = yield* access.authenticate(Redacted.make("admin"), Option.none())
    expect([...admin.scopes].sort()).toEqual(["admin", "read"])
    expect(admin.tokenId).toMatch(/^[0-9a-f]{8}$/)
    const failures = {
      empty: yield* grant(""),
      unknown: yield* grant("nope"),
      ambiguous: yield* grant("two"),
      foreign: yield* grant("one", "globex")
    }
    const tags = Object.fromEntries(
      Object.entries(failures).map(([name, exit]) => [name, Exit.isFailure(exit) ? JSON.stringify(exit.cause) : "ok"])
    )
    expect(tags.empty).toContain("missing_token")
    expect(tags.unknown).toContain("unknown_token")
    expect(tags.ambiguous).toContain("Forbidden")
    expect(tags.foreign).toContain("Forbidden")
    expect((yield* access.authenticate(Redacted.make("two"), Option.some("globex"))).orgId).toBe("globex")
    expect(yield* Effect.exit(DashboardAccess.requireScope(ok, "admin"))).toMatchObject({ _tag: "Failure" })
  }))

it.effect("cursor: round-trips, and anything else is refused naming the field", () =>
  Effect.gen(function*() {
    const position = { updatedOn: new Date("2026-06-01T10:00:00Z"), key: "b".repeat(32) }
    expect(yield* decodeCursor(encodeCursor(position))).toEqual(position)
    for (const bad of ["", "%%%", Buffer.from("[1,2]").toString("base64url"), Buffer.from('["x","y"]').toString("base64url")]) {
      const error = yield* Effect.flip(decodeCursor(bad))
      expect(error.field).toBe("cursor")
    }
  }))
