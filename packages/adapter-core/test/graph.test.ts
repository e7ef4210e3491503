import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as DependencyGraph from "../src/DependencyGraph.js"
import * as EntityDefinition from "../src/EntityDefinition.js"
import * as Manifest from "../src/Manifest.js"
import { hardRef, softRef } from "../src/Reference.js"

const entity = (name: string, fields: Record<string, Schema.Schema<string | null>> = {}) => {
  const row = Schema.Struct({ sys_id: Schema.String, ...fields })
  return EntityDefinition.make({
    name,
    endpoint: `/api/now/table/${name}`,
    apiSchema: row,
    rowSchema: row,
    transform: Either.right,
    key: "sys_id",
    deletions: { auditFeed: false, reconciliation: true }
  })
}
const hard = (target: string) => Schema.NullOr(Schema.String).pipe(hardRef(target))
const soft = (target: string) => Schema.NullOr(Schema.String).pipe(softRef(target))

const graphOf = (...definitions: Array<EntityDefinition.AnyEntityDefinition>) =>
  Manifest.mkEntityManifest(definitions).pipe(Effect.flatMap(DependencyGraph.build), Effect.orDie)

const cycleErrorOf = (...definitions: Array<EntityDefinition.AnyEntityDefinition>) =>
  Manifest.mkEntityManifest(definitions).pipe(
    Effect.orDie,
    Effect.flatMap(DependencyGraph.build),
    Effect.flip
  )

// A small ITSM: incidents need their caller and CI; groups and users point at each other softly.
const itsm = () =>
  graphOf(
    entity("incident", { caller_id: hard("sys_user"), cmdb_ci: hard("cmdb_ci"), assignment_group: soft("sys_user_group") }),
    entity("cmdb_ci", { company: hard("core_company"), owned_by: soft("sys_user") }),
    entity("sys_user", { company: hard("core_company"), department: hard("cmn_department") }),
    entity("sys_user_group", { manager: soft("sys_user") }),
    entity("core_company"),
    entity("cmn_department", { company: hard("core_company") }),
    entity("task_sla", { task: hard("incident") })
  )

describe("DependencyGraph.build", () => {
  it.effect("layers entities by longest path, each level in manifest order", () =>
    Effect.gen(function*() {
      const graph = yield* itsm()
      expect(graph.levels).toEqual([
        ["core_company"],
        ["cmn_department"],
        ["sys_user"],
        ["cmdb_ci", "sys_user_group"],
        ["incident"],
        ["task_sla"]
      ])
      expect(graph.droppedEdges).toEqual([])
      const levelOf = new Map(graph.levels.flatMap((level, i) => level.map((name) => [name, i] as const)))
      for (const edge of graph.edges) expect(levelOf.get(edge.from)!).toBeLessThan(levelOf.get(edge.to)!)
    }))

  it.effect("puts independent entities together on level 0", () =>
    Effect.gen(function*() {
      const graph = yield* graphOf(entity("b"), entity("a"), entity("c", { a_id: soft("a") }))
      expect(graph.levels).toEqual([["b", "a"], ["c"]])
    }))

  it.effect("fails on a hard cycle, naming every entity on it in order and the fields", () =>
    Effect.gen(function*() {
      const error = yield* cycleErrorOf(
        entity("root"),
        entity("a", { c_id: hard("c"), root_id: hard("root") }),
        entity("b", { a_id: hard("a") }),
        entity("c", { b_id: hard("b") })
      )
      expect(error).toBeInstanceOf(DependencyGraph.HardCycleError)
      expect(error.cycles.map((cycle) => cycle.map((edge) => edge.from))).toEqual([["a", "b", "c"]])
      expect(error.message).toBe("hard dependency cycle: a -> b -> c -> a (via b.a_id, c.b_id, a.c_id)")
    }))

  it.effect("reports every hard cycle: each strongly connected component and each self-reference", () =>
    Effect.gen(function*() {
      const error = yield* cycleErrorOf(
        entity("x", { y_id: hard("y"), z_id: hard("z") }),
        entity("y", { x_id: hard("x") }),
        entity("z", { x_id: hard("x") }),
        entity("ok"),
        entity("employee", { manager: hard("employee") })
      )
      expect(error.message).toBe(
        "hard dependency cycles: x -> y -> x -> z -> x (via y.x_id, x.y_id, z.x_id, x.z_id); " +
          "employee -> employee (via employee.manager)"
      )
    }))

  it.effect("drops a soft edge that would close a cycle, with a warning naming it", () =>
    Effect.gen(function*() {
      const graph = yield* graphOf(
        entity("sys_user", { department: hard("cmn_department") }),
        entity("cmn_department", { head: soft("sys_user"), parent: soft("cmn_department") }),
        entity("sys_user_group", { manager: soft("sys_user") })
      )
      expect(graph.droppedEdges).toEqual([
        {
          from: "sys_user",
          to: "cmn_department",
          field: "head",
          reason: "closes-cycle",
          message: "dropped soft edge sys_user -> cmn_department (field cmn_department.head): " +
            "it would close the cycle sys_user -> cmn_department -> sys_user"
        },
        {
          from: "cmn_department",
          to: "cmn_department",
          field: "parent",
          reason: "self-reference",
          message: "dropped soft edge cmn_department -> cmn_department (field cmn_department.parent): " +
            "an entity cannot be ordered before itself"
        }
      ])
      expect(graph.levels).toEqual([["cmn_department"], ["sys_user"], ["sys_user_group"]])
    }))

  it.effect("decides soft edges in manifest order: the first one kept wins against a later one", () =>
    Effect.gen(function*() {
      const graph = yield* graphOf(
        entity("a", { b_id: soft("b") }),
        entity("b", { c_id: soft("c") }),
        entity("c", { a_id: soft("a") })
      )
      expect(graph.edges.map((e) => `${e.from}->${e.to}`)).toEqual(["b->a", "c->b"])
      expect(graph.droppedEdges.map((d) => d.message)).toEqual([
        "dropped soft edge a -> c (field c.a_id): it would close the cycle a -> c -> b -> a"
      ])
      expect(graph.levels).toEqual([["c"], ["b"], ["a"]])
    }))

  it.effect("keeps the hard edge when soft and hard references join the same pair", () =>
    Effect.gen(function*() {
      const graph = yield* graphOf(
        entity("cmdb_ci"),
        entity("incident", { affected_ci: soft("cmdb_ci"), cmdb_ci: hard("cmdb_ci") }),
        entity("problem", { incident: soft("incident") })
      )
      expect(graph.edges).toEqual([
        { from: "cmdb_ci", to: "incident", field: "cmdb_ci", kind: "hard" },
        { from: "incident", to: "problem", field: "incident", kind: "soft" }
      ])
      expect(graph.droppedEdges).toEqual([{
        from: "cmdb_ci",
        to: "incident",
        field: "affected_ci",
        reason: "shadowed-by-hard",
        message: "dropped soft edge cmdb_ci -> incident (field incident.affected_ci): " +
          "the hard edge cmdb_ci -> incident (field incident.cmdb_ci) already orders them"
      }])
      expect(DependencyGraph.hardParents(graph, "incident")).toEqual(["cmdb_ci"])
      expect(DependencyGraph.softParents(graph, "incident")).toEqual([])
      expect(DependencyGraph.softParents(graph, "problem")).toEqual(["incident"])
      expect(graph.levels).toEqual([["cmdb_ci"], ["incident"], ["problem"]])
    }))
})

describe("DependencyGraph queries", () => {
  it.effect("hardParents, softParents and transitive hard dependants", () =>
    Effect.gen(function*() {
      const graph = yield* itsm()
      expect(DependencyGraph.hardParents(graph, "incident")).toEqual(["cmdb_ci", "sys_user"])
      expect(DependencyGraph.softParents(graph, "incident")).toEqual(["sys_user_group"])
      expect(DependencyGraph.dependants(graph, "cmn_department")).toEqual(["incident", "sys_user", "task_sla"])
      expect(DependencyGraph.dependants(graph, "core_company")).toEqual([
        "incident", "cmdb_ci", "sys_user", "cmn_department", "task_sla"
      ])
      // sys_user_group only references sys_user softly, so a failed sys_user does not skip it.
      expect(DependencyGraph.dependants(graph, "sys_user")).toEqual(["incident", "task_sla"])
      expect(DependencyGraph.dependants(graph, "task_sla")).toEqual([])
    }))

  it.effect("planFor pulls in hard parents transitively but not soft parents, and relayers the subset", () =>
    Effect.gen(function*() {
      const graph = yield* itsm()
      expect(yield* DependencyGraph.planFor(graph, ["incident"])).toEqual([
        ["core_company"],
        ["cmn_department"],
        ["sys_user"],
        ["cmdb_ci"],
        ["incident"]
      ])
      // cmdb_ci's soft parent sys_user is not pulled in, so cmdb_ci moves up to level 1, and
      // sys_user_group, whose only parent is soft, starts at once.
      expect(yield* DependencyGraph.planFor(graph, ["cmdb_ci", "sys_user_group", "cmdb_ci"])).toEqual([
        ["sys_user_group", "core_company"],
        ["cmdb_ci"]
      ])
      expect(yield* DependencyGraph.planFor(graph, [])).toEqual([])
    }))

  it.effect("planFor fails naming the unknown entities and the known ones", () =>
    Effect.gen(function*() {
      const graph = yield* graphOf(entity("a"), entity("b", { a_id: hard("a") }))
      const error = yield* Effect.flip(DependencyGraph.planFor(graph, ["b", "problem", "change_request"]))
      expect(error).toBeInstanceOf(Manifest.UnknownEntityError)
      expect(error.unknown).toEqual(["problem", "change_request"])
      expect(error.message).toBe(`unknown entities "problem", "change_request"; known entities: "a", "b"`)
    }))
})

describe("DependencyGraph output", () => {
  const small = () =>
    graphOf(
      entity("company"),
      entity("user", { company: hard("company"), group: soft("group") }),
      entity("group", { manager: soft("user") })
    )

  it.effect("toJSON is a plain object that survives a JSON round trip and matches the schema", () =>
    Effect.gen(function*() {
      const json = DependencyGraph.toJSON(yield* small())
      expect(json).toEqual({
        entities: ["company", "user", "group"],
        edges: [
          { from: "company", to: "user", field: "company", kind: "hard" },
          { from: "group", to: "user", field: "group", kind: "soft" }
        ],
        droppedEdges: [{
          from: "user",
          to: "group",
          field: "manager",
          reason: "closes-cycle",
          message: "dropped soft edge user -> group (field group.manager): " +
            "it would close the cycle user -> group -> user"
        }],
        levels: [["company", "group"], ["user"]]
      })
      expect(JSON.parse(JSON.stringify(json))).toEqual(json)
      expect(Schema.decodeUnknownSync(DependencyGraph.DependencyGraphJson)(json)).toEqual(json)
    }))

  it.effect("toMermaid draws hard edges solid, soft edges dashed and dropped edges as comments", () =>
    Effect.gen(function*() {
      expect(DependencyGraph.toMermaid(yield* small())).toBe(
        [
          "graph TD",
          "  company",
          "  user",
          "  group",
          "  company -->|company| user",
          "  group -.->|group| user",
          "  %% dropped soft edge user -> group (field group.manager): it would close the cycle user -> group -> user",
          ""
        ].join("\n")
      )
    }))

  it.effect("toMermaid gives names that are not plain Mermaid ids a generated id and a quoted label", () =>
    Effect.gen(function*() {
      const graph = yield* graphOf(entity("end"), entity("x-ray", { "end ref": hard("end") }))
      expect(DependencyGraph.toMermaid(graph)).toBe(
        ["graph TD", `  n0["end"]`, `  n1["x-ray"]`, `  n0 -->|"end ref"| n1`, ""].join("\n")
      )
    }))
})
