import { describe, expect, it } from "@effect/vitest"
import { DependencyGraph, EntityDefinition } from "@tidemark/adapter-core"
import { Effect, Either } from "effect"
import { cmdbCi, incident, itsmManifest } from "../src/ItsmEntities.js"

describe("ITSM manifest", () => {
  it.effect("orders the seven tables in levels: groups/users, items, changes/problems/events, incidents", () =>
    Effect.gen(function*() {
      const graph = yield* DependencyGraph.build(itsmManifest)
      expect(graph.levels).toEqual([
        ["sys_user"],
        ["sys_user_group"],
        ["cmdb_ci"],
        ["change_request", "problem", "em_event"],
        ["incident"]
      ])
      // users ↔ groups is a soft cycle: the edge that would close it is dropped with a warning.
      expect(graph.droppedEdges.map((e) => [e.from, e.to, e.field, e.reason])).toEqual([
        ["sys_user_group", "sys_user", "u_primary_group", "closes-cycle"],
        ["sys_user", "incident", "assigned_to", "shadowed-by-hard"]
      ])
      expect(graph.droppedEdges[0]!.message).toBe(
        "dropped soft edge sys_user_group -> sys_user (field sys_user.u_primary_group): " +
          "it would close the cycle sys_user_group -> sys_user -> sys_user_group"
      )
      expect(DependencyGraph.hardParents(graph, "incident")).toEqual(["sys_user", "cmdb_ci"])
      expect(DependencyGraph.softParents(graph, "incident")).toEqual(
        ["sys_user_group", "change_request", "problem"]
      )
    }))

  it.effect("a subset pulls in hard parents only", () =>
    Effect.gen(function*() {
      const graph = yield* DependencyGraph.build(itsmManifest)
      const plan = yield* DependencyGraph.planFor(graph, ["incident"])
      // sys_user precedes cmdb_ci through a soft edge (cmdb_ci.assigned_to) inside the subset.
      expect(plan).toEqual([["sys_user"], ["cmdb_ci"], ["incident"]])
      const events = yield* DependencyGraph.planFor(graph, ["em_event"])
      expect(events).toEqual([["cmdb_ci"], ["em_event"]])
    }))

  it("derives references from the row schemas", () => {
    expect(EntityDefinition.references(incident).map((r) => `${r.field}:${r.kind}:${r.target}`)).toEqual([
      "caller_id:hard:sys_user",
      "cmdb_ci:hard:cmdb_ci",
      "assignment_group:soft:sys_user_group",
      "assigned_to:soft:sys_user",
      "problem_id:soft:problem",
      "caused_by:soft:change_request"
    ])
  })

  it("decodes a valid record into a typed row and explains an invalid one", () => {
    const raw = {
      sys_id: "0123456789abcdef0123456789abcdef",
      sys_created_on: "2026-01-01 00:00:00",
      sys_updated_on: "2026-01-02 03:04:05",
      sys_mod_count: "3",
      sys_created_by: "admin",
      sys_updated_by: "admin",
      name: "db-01",
      sys_class_name: "cmdb_ci_database",
      operational_status: "1",
      environment: "production",
      business_criticality: "1 - most critical",
      support_group: "",
      assigned_to: "fedcba9876543210fedcba9876543210",
      ip_address: "10.0.0.1",
      u_depends_on: ""
    }
    const row = Either.getOrThrow(cmdbCi.decodeRecord(raw))
    expect(row.sys_updated_on).toEqual(new Date("2026-01-02T03:04:05Z"))
    expect(row.operational_status).toBe(1)
    expect(row.support_group).toBeNull()
    expect(row.assigned_to).toBe("fedcba9876543210fedcba9876543210")

    const bad = { ...raw, sys_updated_on: "yesterday", operational_status: "one" }
    const failure = cmdbCi.decodeRecord(bad)
    expect(Either.isLeft(failure)).toBe(true)
    if (Either.isLeft(failure)) {
      expect(failure.left._tag).toBe("InvalidRecord")
      expect(failure.left.key).toBe(raw.sys_id)
      expect(failure.left.raw).toBe(bad)
      expect(failure.left.reason).toContain("sys_updated_on")
      expect(failure.left.reason).toContain("operational_status")
    }
  })
})
