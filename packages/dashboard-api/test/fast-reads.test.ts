/**
 * The overview and risk answered in front of the router (FastReads): the same bytes as the HttpApi
 * endpoint for the same `asOf`, every refusal and unknown id left to the HttpApi (its errors), org
 * isolation, and overview snapshots that are reused while nothing changes and retaken after a sync
 * commits (the max age here is a minute, so only the change notification can retake them).
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { Effect, Option, Schedule } from "effect"
import { FastReads, Risk } from "../src/index.js"
import { baseUrl, layer as stack, ORG, OTHER_ORG, sync } from "./DashboardFixture.js"
import { overviewTruth } from "./Truth.js"

const READER = "acme-reader"

interface Raw {
  readonly status: number
  readonly text: string
  readonly contentType: string | null
}

/** The response as bytes (as text), to compare both paths exactly. */
const raw = (path: string, token: string | undefined, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    return yield* Effect.promise(async (): Promise<Raw> => {
      const response = await fetch(`${base}${path}`, {
        headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers }
      })
      return { status: response.status, text: await response.text(), contentType: response.headers.get("content-type") }
    })
  })

const counts = Effect.map(FastReads.FastReads, (fast) => fast.counts())

layer(stack({ prefix: "fast_reads", overviewMaxAgeMillis: 60_000 }), { excludeTestServices: true, timeout: "300 seconds" })(
  "fast reads",
  (it) => {
    it.effect("full syncs of both orgs", () =>
      Effect.gen(function*() {
        expect((yield* sync(ORG, "full")).status).toBe("succeeded")
        expect((yield* sync(OTHER_ORG, "full")).status).toBe("succeeded")
      }))

    it.effect("the overview: the HttpApi's bytes for the snapshot's asOf, the snapshot reused while nothing changes", () =>
      Effect.gen(function*() {
        const before = yield* counts
        const fast = yield* raw("/api/v1/dashboard/overview", READER)
        expect(fast.status, fast.text).toBe(200)
        expect(fast.contentType).toBe("application/json")
        const asOf: string = JSON.parse(fast.text).asOf
        yield* Effect.sleep("20 millis")
        const again = yield* raw("/api/v1/dashboard/overview", READER)
        expect(again.text).toBe(fast.text)
        const viaApi = yield* raw(`/api/v1/dashboard/overview?asOf=${asOf}`, READER)
        expect(viaApi.status).toBe(200)
        expect(viaApi.contentType).toBe("application/json")
        expect(viaApi.text).toBe(fast.text)
        const after = yield* counts
        expect(after.overview - before.overview).toBe(2)
        expect(after.handedBack).toBe(before.handedBack)
        // Each org its own snapshot.
        const other = yield* raw("/api/v1/dashboard/overview", "globex-reader")
        expect(JSON.parse(other.text).orgId).toBe(OTHER_ORG)
        expect(JSON.parse(other.text).incidents.open).not.toBe(JSON.parse(fast.text).incidents.open)
      }))

    it.effect("a sync's commit retakes the snapshot (notification, not max age)", () =>
      Effect.gen(function*() {
        const first = JSON.parse((yield* raw("/api/v1/dashboard/overview", READER)).text)
        const sim = yield* ItsmSimulator.ItsmSimulator
        yield* Effect.orDie(sim.mutate({ table: "incident", creates: 25, updates: 40, deletes: 5 }))
        yield* sim.advanceClock(60)
        const run = yield* sync(ORG, "delta")
        expect(run.status).toBe("succeeded")
        const finishedAt = run.finishedAt!.getTime()
        // Notifications arrive after the commit, within milliseconds: poll briefly.
        const next = yield* raw("/api/v1/dashboard/overview", READER).pipe(
          Effect.map((response) => JSON.parse(response.text)),
          Effect.filterOrFail((body) => new Date(body.asOf).getTime() >= finishedAt, () => "still the old snapshot"),
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the snapshot was not retaken") }),
          Effect.orDie
        )
        expect(new Date(next.asOf).getTime()).toBeGreaterThan(new Date(first.asOf).getTime())
        const truth = yield* overviewTruth(ORG, new Date(next.asOf))
        expect(next.incidents.open).toBe(truth.incidents.open)
        expect(next.incidents.p1Open).toBe(truth.incidents.p1)
        const latest = next.freshness.find((entry: { entity: string }) => entry.entity === "incident")
        expect(latest.lastRun.runId).toBe(run.runId)
      }))

    it.effect("risk: the HttpApi's bytes for the same asOf, by sys_id and by number", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const incidents = yield* sql<{ key: string; number: string }>`
          SELECT key, number FROM cache_itsm_incident WHERE org_id = ${ORG} AND deleted_at IS NULL
            AND cmdb_ci IS NOT NULL ORDER BY key LIMIT 8`
        expect(incidents.length).toBe(8)
        const before = yield* counts
        for (const [n, incident] of incidents.entries()) {
          const id = n % 2 === 0 ? incident.key : incident.number
          const fast = yield* raw(`/api/v1/incidents/${id}/risk`, READER)
          expect(fast.status, fast.text).toBe(200)
          const body = JSON.parse(fast.text)
          expect(body.incident.sys_id).toBe(incident.key)
          const viaApi = yield* raw(`/api/v1/incidents/${id}/risk?asOf=${body.asOf}`, READER)
          expect(viaApi.status).toBe(200)
          expect(viaApi.text).toBe(fast.text)
        }
        const after = yield* counts
        expect(after.risk - before.risk).toBe(8)
        expect(after.handedBack).toBe(before.handedBack)
      }))

    it.effect("risk requests arriving together share statements, and each gets its own incident's answer", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const incidents = yield* sql<{ key: string }>`
          SELECT key FROM cache_itsm_incident WHERE org_id = ${ORG} AND deleted_at IS NULL ORDER BY key DESC LIMIT 40`
        const ids = [...incidents.map((row) => row.key), "0".repeat(32), "INC9999999"]
        const responses = yield* Effect.forEach(ids, (id) => raw(`/api/v1/incidents/${id}/risk`, READER), {
          concurrency: "unbounded"
        })
        for (const [n, response] of responses.entries()) {
          if (n >= incidents.length) {
            expect(response.status).toBe(404)
            continue
          }
          expect(response.status, response.text).toBe(200)
          const body = JSON.parse(response.text)
          expect(body.incident.sys_id).toBe(ids[n])
          const alone = yield* raw(`/api/v1/incidents/${ids[n]}/risk?asOf=${body.asOf}`, READER)
          expect(alone.text).toBe(response.text)
        }
        // Directly: the order asked, none for what names nothing (unknown, malformed, another org's).
        const asOf = new Date()
        const risks = yield* Risk.risksOf([
          { orgId: ORG, id: ids[0]!, asOf },
          { orgId: ORG, id: "not-an-id", asOf },
          { orgId: OTHER_ORG, id: ids[1]!, asOf },
          { orgId: ORG, id: ids[2]!, asOf },
          { orgId: ORG, id: "0".repeat(32), asOf }
        ])
        expect(risks.map((risk) => Option.map(risk, (r) => r.incident.sys_id))).toEqual([
          Option.some(ids[0]),
          Option.none(),
          Option.none(),
          Option.some(ids[2]),
          Option.none()
        ])
      }))

    it.effect("refusals and unknown ids are the HttpApi's answers; no org reads another's", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const [incident] = yield* sql<{ key: string }>`
          SELECT key FROM cache_itsm_incident WHERE org_id = ${ORG} AND deleted_at IS NULL ORDER BY key LIMIT 1`
        const path = `/api/v1/incidents/${incident!.key}/risk`
        const before = yield* counts
        expect((yield* raw(path, undefined)).status).toBe(401)
        expect((yield* raw(path, "not-a-token")).status).toBe(401)
        expect((yield* raw("/api/v1/dashboard/overview", undefined)).status).toBe(401)
        // A token of several orgs must name one; when it does, it is answered here.
        expect((yield* raw(path, "both-reader")).status).toBe(403)
        expect((yield* raw(path, "both-reader", { "x-tidemark-org": ORG })).status).toBe(200)
        // globex's token: acme's incident does not exist for it (404, handed back after the read).
        const foreign = yield* raw(path, "globex-reader")
        expect(foreign.status).toBe(404)
        expect(JSON.parse(foreign.text)._tag).toBe("NotFound")
        const unknown = yield* raw(`/api/v1/incidents/${"0".repeat(32)}/risk`, READER)
        expect(unknown.status).toBe(404)
        expect((yield* raw("/api/v1/incidents/not-an-id/risk", READER)).status).toBe(404)
        const after = yield* counts
        // Answered here: the named-org risk; taken then handed back: foreign, unknown and not-an-id.
        expect(after.risk - before.risk).toBe(4)
        expect(after.handedBack - before.handedBack).toBe(3)
      }))
  }
)
