import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Schema } from "effect"
import * as EntityDefinition from "../src/EntityDefinition.js"
import * as Manifest from "../src/Manifest.js"
import { hardRef, referencesOf, softRef } from "../src/Reference.js"

const entity = (name: string, fields: Record<string, Schema.Schema<string | null>>) => {
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

describe("mkEntityManifest", () => {
  it.effect("keeps declared order, looks entities up by name and derives references in field order", () =>
    Effect.gen(function*() {
      const manifest = yield* Manifest.mkEntityManifest([
        entity("incident", { caller_id: hard("sys_user"), assignment_group: soft("sys_user_group") }),
        entity("sys_user", {}),
        entity("sys_user_group", { manager: soft("sys_user") })
      ])
      expect(Manifest.names(manifest)).toEqual(["incident", "sys_user", "sys_user_group"])
      expect(Option.map(Manifest.get(manifest, "sys_user"), (d) => d.endpoint)).toEqual(
        Option.some("/api/now/table/sys_user")
      )
      expect(Manifest.get(manifest, "problem")).toEqual(Option.none())
      expect(Manifest.referencesOf(manifest, "incident")).toEqual([
        { field: "caller_id", target: "sys_user", kind: "hard" },
        { field: "assignment_group", target: "sys_user_group", kind: "soft" }
      ])
      expect((yield* Manifest.lookup(manifest, "sys_user_group")).name).toBe("sys_user_group")
      const missing = yield* Effect.flip(Manifest.lookup(manifest, "problem"))
      expect(missing).toBeInstanceOf(Manifest.UnknownEntityError)
      expect(missing.message).toBe(
        `unknown entity "problem"; known entities: "incident", "sys_user", "sys_user_group"`
      )
    }))

  it.effect("fails naming every duplicated entity name", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Manifest.mkEntityManifest([
        entity("a", {}),
        entity("b", {}),
        entity("a", {}),
        entity("c", {}),
        entity("b", {}),
        entity("b", {})
      ]))
      expect(error._tag).toBe("DuplicateEntityNameError")
      expect(error).toBeInstanceOf(Manifest.DuplicateEntityNameError)
      if (error._tag !== "DuplicateEntityNameError") return
      expect(error.names).toEqual(["a", "b"])
      expect(error.message).toBe(`duplicate entity names in manifest: "a", "b"`)
    }))

  it.effect("fails on a reference to an entity outside the manifest, naming entity, field and target", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Manifest.mkEntityManifest([
        entity("sys_user", {}),
        entity("incident", { caller_id: hard("sys_user"), cmdb_ci: hard("cmdb_ci"), group: soft("nowhere") })
      ]))
      expect(error).toBeInstanceOf(Manifest.UnknownReferenceTargetError)
      if (error._tag !== "UnknownReferenceTargetError") return
      expect({ entity: error.entity, field: error.field, target: error.target, kind: error.kind }).toEqual({
        entity: "incident",
        field: "cmdb_ci",
        target: "cmdb_ci",
        kind: "hard"
      })
      expect(error.known).toEqual(["sys_user", "incident"])
      expect(error.message).toBe(
        `entity "incident" field "cmdb_ci" has a hard reference to unknown entity "cmdb_ci"; ` +
          `known entities: "sys_user", "incident"`
      )
    }))

  it("unsafeMakeEntityManifest returns the manifest, or throws the same tagged error", () => {
    const manifest = Manifest.unsafeMakeEntityManifest([entity("a", {}), entity("b", { a_id: hard("a") })])
    expect(Manifest.names(manifest)).toEqual(["a", "b"])
    let thrown: unknown
    try {
      Manifest.unsafeMakeEntityManifest([entity("b", { a_id: soft("a") })])
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(Manifest.UnknownReferenceTargetError)
    expect((thrown as Manifest.UnknownReferenceTargetError).message).toBe(
      `entity "b" field "a_id" has a soft reference to unknown entity "a"; known entities: "b"`
    )
  })

  it("finds references on a Schema.Class row schema, whose fields sit behind a declaration", () => {
    class UserRow extends Schema.Class<UserRow>("UserRow")({
      sys_id: Schema.String,
      department: Schema.NullOr(Schema.String).pipe(hardRef("cmn_department")),
      manager: soft("sys_user")
    }) {}
    expect(referencesOf(UserRow)).toEqual([
      { field: "department", target: "cmn_department", kind: "hard" },
      { field: "manager", target: "sys_user", kind: "soft" }
    ])
  })
})
