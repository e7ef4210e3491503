/**
 * Single-record changes (what webhooks deliver) go through the record's cluster entity and the sink:
 * newest version wins, deletions soft-delete, and a record that does not decode is refused.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { ItsmSimulator } from "@tidemark/itsm-adapter/simulator"
import { Effect } from "effect"
import * as RecordChanges from "../src/RecordChanges.js"
import { SyncEngine } from "../src/SyncEngine.js"
import { StartRunRequest } from "../src/SyncRun.js"
import { awaitRun, ORG } from "./SyncFixture.js"
import * as SyncFixture from "./SyncFixture.js"

const change = (key: string, change: RecordChanges.RecordChange) =>
  RecordChanges.applyChange(new RecordChanges.ApplyChangeRequest({ orgId: ORG, adapter: "itsm", entity: "incident", key, change }))

layer(SyncFixture.layer({ prefix: "records" }), { excludeTestServices: true, timeout: "120 seconds" })("record changes", (it) => {
  it.effect("apply the newest version, ignore an older one, soft-delete, and refuse bad records", () =>
    Effect.gen(function*() {
      const engine = yield* SyncEngine
      const sim = yield* ItsmSimulator.ItsmSimulator
      const sql = yield* SqlClient.SqlClient
      const started = yield* engine.startRun(new StartRunRequest({ orgId: ORG, adapter: "itsm", syncType: "full" }))
      expect((yield* awaitRun(started.runId)).status).toBe("succeeded")

      const key = (yield* Effect.orDie(sim.truth("incident"))).result[0]!.sys_id
      const versions: Array<Record<string, string>> = []
      for (let i = 0; i < 3; i++) {
        yield* sim.advanceClock(5)
        yield* Effect.orDie(sim.mutate({ table: "incident", updateKeys: [key] }))
        versions.push((yield* Effect.orDie(sim.truth("incident"))).result.find((r) => r.sys_id === key)!)
      }
      expect((yield* change(key, { _tag: "Upsert", raw: versions[0] })).outcome).toBe("updated")
      expect((yield* change(key, { _tag: "Upsert", raw: versions[2] })).outcome).toBe("updated")
      // An older version arriving late never overwrites the newer one.
      expect((yield* change(key, { _tag: "Upsert", raw: versions[1] })).outcome).toBe("unchanged")
      const [row] = yield* sql<{ raw: Record<string, string> }>`
        SELECT raw FROM cache_itsm_incident WHERE org_id = ${ORG} AND key = ${key}`
      expect(row!.raw).toEqual(versions[2])
      const log = yield* sql<{ op: string }>`
        SELECT op FROM sync_changes WHERE entity = 'incident' AND key = ${key} AND run_id IS NULL ORDER BY id`
      expect(log.map((r) => r.op)).toEqual(["update", "update"])

      const bad = yield* Effect.flip(change(key, { _tag: "Upsert", raw: { ...versions[2], sys_updated_on: "soon" } }))
      expect(bad._tag).toBe("InvalidChangeError")
      expect(bad.message).toContain("sys_updated_on")

      const deleted = yield* change(key, { _tag: "Delete", deletedAt: new Date(Date.parse(`${versions[2]!.sys_updated_on}Z`) + 1000) })
      expect(deleted.outcome).toBe("deleted")
      const [gone] = yield* sql<{ deleted: boolean }>`
        SELECT deleted_at IS NOT NULL AS deleted FROM cache_itsm_incident WHERE org_id = ${ORG} AND key = ${key}`
      expect(gone!.deleted).toBe(true)
    }))
})
