/**
 * A two-entity manifest for the persistence tests: `parent`, and `child` with a hard and a soft
 * reference to it. Defined here rather than taken from the ITSM adapter so the sink is tested on
 * nothing but the manifest contract.
 */
import type { Adapter } from "@tidemark/adapter-core"
import { EntityDefinition, Manifest, Reference } from "@tidemark/adapter-core"
import { Either, Schema } from "effect"

export const ParentRow = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  size: Schema.NullOr(Schema.Int),
  ratio: Schema.NullOr(Schema.Number),
  active: Schema.NullOr(Schema.Boolean),
  opened_at: Schema.NullOr(Schema.DateFromSelf),
  updated_at: Schema.DateFromSelf,
  tags: Schema.Array(Schema.String)
})
export type ParentRow = typeof ParentRow.Type

export const ChildRow = Schema.Struct({
  id: Schema.String,
  title: Schema.String,
  parent_id: Schema.NullOr(Schema.String).pipe(Reference.hardRef("parent")),
  buddy_id: Schema.NullOr(Schema.String).pipe(Reference.softRef("parent")),
  priority: Schema.NullOr(Schema.Int),
  updated_at: Schema.DateFromSelf
})
export type ChildRow = typeof ChildRow.Type

export const parent = EntityDefinition.make({
  name: "parent",
  endpoint: "/parent",
  apiSchema: ParentRow,
  rowSchema: ParentRow,
  transform: Either.right,
  key: "id",
  cursor: "updated_at",
  deletions: { auditFeed: true, reconciliation: true }
})

export const child = EntityDefinition.make({
  name: "child",
  endpoint: "/child",
  apiSchema: ChildRow,
  rowSchema: ChildRow,
  transform: Either.right,
  key: "id",
  cursor: "updated_at",
  deletions: { auditFeed: true, reconciliation: true }
})

export const manifest = Manifest.unsafeMakeEntityManifest([parent, child])

export const ADAPTER = "testsrc"

export const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second))

/** A source record as an adapter would deliver it: the row, and a raw body with string values. */
export const parentRecord = (
  id: string,
  updatedSecond: number,
  fields: Partial<Omit<ParentRow, "id" | "updated_at">> = {}
): Adapter.SourceRecord => {
  const row: ParentRow = {
    id,
    name: `parent ${id}`,
    size: 42,
    ratio: 0.5,
    active: true,
    opened_at: at(0),
    updated_at: at(updatedSecond),
    tags: ["a", "b"],
    ...fields
  }
  return {
    key: id,
    cursor: row.updated_at,
    row,
    raw: { ...row, opened_at: row.opened_at?.toISOString() ?? "", updated_at: row.updated_at.toISOString() }
  }
}

export const childRecord = (
  id: string,
  updatedSecond: number,
  fields: Partial<Omit<ChildRow, "id" | "updated_at">> = {}
): Adapter.SourceRecord => {
  const row: ChildRow = {
    id,
    title: `child ${id}`,
    parent_id: null,
    buddy_id: null,
    priority: 3,
    updated_at: at(updatedSecond),
    ...fields
  }
  return { key: id, cursor: row.updated_at, row, raw: { ...row, updated_at: row.updated_at.toISOString() } }
}
