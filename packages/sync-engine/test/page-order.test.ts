/**
 * A partition's page activities overlap (page n+1's activity is journaled and its page fetched while
 * page n is written), yet the pages commit one after another in keyset order; and a page that an
 * earlier process committed without journaling its activity is returned as committed, not fetched
 * again. Real Postgres, the simulator over HTTP, workflows on the cluster.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { Effect } from "effect"
import { SyncEngine } from "../src/SyncEngine.js"
import { StartRunRequest } from "../src/SyncRun.js"
import { awaitRun, cacheOf, ENTITIES, ORG, truthOf } from "./SyncFixture.js"
import * as SyncFixture from "./SyncFixture.js"

const PAGE_SIZE = 50

/** A source timestamp ("2026-06-01 12:00:00", UTC) as a Date. */
const sourceTime = (value: string) => new Date(`${value.replace(" ", "T")}Z`)

/** The source's users in the order a sync reads them: (sys_updated_on, sys_id). */
const usersInKeysetOrder = Effect.map(truthOf("sys_user"), (users) =>
  [...users].sort((a, b) =>
    a.sys_updated_on! < b.sys_updated_on! ? -1 : a.sys_updated_on! > b.sys_updated_on! ? 1 : a.sys_id! < b.sys_id! ? -1 : 1
  ))

layer(
  SyncFixture.layer({ prefix: "pageorder", engine: { pageSize: PAGE_SIZE, fullSyncPartitions: 1 } }),
  { excludeTestServices: true, timeout: "180 seconds" }
)("overlapping page activities", (it) => {
  it.effect("pages commit in keyset order, each after the one before, while the next page's activity is already journaled", () =>
    Effect.gen(function*() {
      const engine = yield* SyncEngine
      const started = yield* engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full" }))
      const result = yield* awaitRun(started.runId)
      expect(result.status).toBe("succeeded")
      for (const entity of ENTITIES) {
        expect((yield* cacheOf(entity)).map((row) => row.raw), entity).toEqual(yield* truthOf(entity))
      }
      const sql = yield* SqlClient.SqlClient
      const pages = yield* sql<{
        page_no: number
        cursor_from: Date | null
        key_from: string | null
        cursor_to: Date | null
        key_to: string | null
        has_more: boolean
        committed_at: Date
      }>`SELECT page_no, cursor_from, key_from, cursor_to, key_to, has_more, committed_at FROM sync_pages
         WHERE run_id = ${started.runId} AND entity = 'incident' ORDER BY page_no`
      const incidents = (yield* truthOf("incident")).length
      // A page is known to be the last when it is not full: a full last page is followed by an empty one.
      const expected = Math.floor(incidents / PAGE_SIZE) + 1
      expect(pages.map((page) => page.page_no)).toEqual(Array.from({ length: expected }, (_, i) => i + 1))
      expect(pages.map((page) => page.has_more)).toEqual(pages.map((_, i) => i < pages.length - 1))
      for (let i = 1; i < pages.length; i++) {
        const [before, page] = [pages[i - 1]!, pages[i]!]
        // No gap and no overlap: each page starts where the one before ended...
        expect([page.cursor_from?.getTime(), page.key_from], `page ${page.page_no}`).toEqual([before.cursor_to?.getTime(), before.key_to])
        // ...and its transaction began after the one before had committed.
        expect(page.committed_at.getTime(), `page ${page.page_no}`).toBeGreaterThan(before.committed_at.getTime())
      }
      // The overlap itself: page n+1's activity message is stored before page n's activity has its
      // reply (one after the other, as before pages overlapped, it never is). Not every pair overlaps:
      // a small page can be written and answered before the next message is stored.
      const journal = yield* sql<{ execution: string; page: number; message_id: string; reply_id: string }>`
        SELECT m.entity_id AS execution, substring(m.message_id FROM '/activity/page-([0-9]+)/')::int AS page,
               m.id::text AS message_id, r.id::text AS reply_id
        FROM cluster_messages m JOIN cluster_replies r ON r.request_id = m.id
        WHERE m.entity_type = 'Workflow/TidemarkEntitySync' AND m.message_id LIKE '%/activity/page-%'
        ORDER BY 1, 2`
      let pairs = 0
      let overlapping = 0
      for (let i = 1; i < journal.length; i++) {
        const [before, next] = [journal[i - 1]!, journal[i]!]
        if (next.execution !== before.execution || next.page !== before.page + 1) continue
        pairs++
        if (BigInt(next.message_id) < BigInt(before.reply_id)) overlapping++
      }
      expect(pairs).toBeGreaterThanOrEqual(pages.length - 1)
      expect(overlapping).toBeGreaterThan(0)
    }))

  it.effect("a page committed by an earlier process, its activity not journaled, is not fetched again", () =>
    Effect.gen(function*() {
      const sim = yield* ItsmSimulator.ItsmSimulator
      const sql = yield* SqlClient.SqlClient
      const runId = "recheck-committed"
      // An earlier process committed the first page of the run and died before its activity was
      // journaled (written here as that process would have).
      const users = yield* usersInKeysetOrder
      const firstPage = users.slice(0, PAGE_SIZE)
      const end = firstPage.at(-1)!
      yield* sql`INSERT INTO sync_pages (run_id, entity, page_no, org_id, adapter, records, inserted, cursor_to, key_to, has_more)
        VALUES (${runId}, 'sys_user', 1, ${ORG}, 'itsm', ${PAGE_SIZE}, ${PAGE_SIZE},
          ${sourceTime(end.sys_updated_on!)}, ${end.sys_id!}, true)`
      yield* sql`DELETE FROM ${sql("cache_itsm_sys_user")} WHERE org_id = ${ORG}`
      const since = (yield* sim.requests()).length
      const engine = yield* SyncEngine
      yield* engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full", entities: ["sys_user"], runId }))
      const result = yield* awaitRun(runId)
      expect(result.status).toBe("succeeded")
      const pageRequests = (yield* sim.requests(since)).filter((request) =>
        request.table === "sys_user" && request.status === 200 && request.limit === PAGE_SIZE
      )
      // The pages after the committed one only: the first page is never asked for.
      expect(pageRequests.length).toBe(Math.floor(users.length / PAGE_SIZE))
      expect(pageRequests.every((request) => request.query?.includes("sys_updated_on>") === true)).toBe(true)
      const cached = (yield* cacheOf("sys_user")).map((row) => row.key)
      expect(cached).toEqual(users.slice(PAGE_SIZE).map((user) => user.sys_id!).sort())
      expect(result.entityRuns.find((run) => run.entity === "sys_user")?.records).toBe(users.length)
    }))

  it.effect("a page that fails to commit stops its partition: the page after it, already fetched, is not written", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const runId = "page-fails"
      const users = yield* usersInKeysetOrder
      // A real fault in Postgres: the cache refuses one record of the second page.
      const refused = users[PAGE_SIZE + 10]!.sys_id!
      yield* sql`DELETE FROM ${sql("cache_itsm_sys_user")} WHERE org_id = ${ORG}`
      yield* sql.unsafe(`CREATE FUNCTION refuse_one_user() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refused by the test: %', NEW.key; END $$`)
      yield* sql.unsafe(`CREATE TRIGGER refuse_one_user BEFORE INSERT ON cache_itsm_sys_user
        FOR EACH ROW WHEN (NEW.key = '${refused}') EXECUTE FUNCTION refuse_one_user()`)
      const result = yield* Effect.gen(function*() {
        const engine = yield* SyncEngine
        yield* engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full", entities: ["sys_user"], runId }))
        return yield* awaitRun(runId)
      }).pipe(Effect.ensuring(Effect.orDie(sql.unsafe(`DROP TRIGGER refuse_one_user ON cache_itsm_sys_user;
        DROP FUNCTION refuse_one_user()`))))
      const user = result.entityRuns.find((run) => run.entity === "sys_user")!
      expect(user.status).toBe("failed")
      expect(user.error).toContain(`refused by the test: ${refused}`)
      const pages = yield* sql<{ page_no: number }>`
        SELECT page_no FROM sync_pages WHERE run_id = ${runId} AND entity = 'sys_user' ORDER BY page_no`
      expect(pages.map((page) => page.page_no)).toEqual([1])
      expect((yield* cacheOf("sys_user")).map((row) => row.key)).toEqual(
        users.slice(0, PAGE_SIZE).map((user) => user.sys_id!).sort()
      )
    }))
})
