import { Prng } from "../Hash.js"

/** Every table the simulator serves, in dependency order (parents before children). */
export const TABLE_NAMES = [
  "sys_user_group",
  "sys_user",
  "cmdb_ci",
  "change_request",
  "problem",
  "incident",
  "em_event",
  "sys_audit_delete"
] as const

export type TableName = (typeof TABLE_NAMES)[number]

export const isTableName = (name: string): name is TableName => (TABLE_NAMES as ReadonlyArray<string>).includes(name)

export type FieldKind =
  | { readonly _tag: "string" }
  | { readonly _tag: "datetime" }
  | { readonly _tag: "integer" }
  | { readonly _tag: "boolean" }
  | { readonly _tag: "choice"; readonly labels: Readonly<Record<string, string>> }
  | { readonly _tag: "reference"; readonly target: TableName }

export interface FieldSpec {
  readonly name: string
  readonly kind: FieldKind
}

export const string = (name: string): FieldSpec => ({ name, kind: { _tag: "string" } })
export const dateTime = (name: string): FieldSpec => ({ name, kind: { _tag: "datetime" } })
export const integer = (name: string): FieldSpec => ({ name, kind: { _tag: "integer" } })
export const boolean = (name: string): FieldSpec => ({ name, kind: { _tag: "boolean" } })
export const choice = (name: string, labels: Readonly<Record<string, string>>): FieldSpec => ({
  name,
  kind: { _tag: "choice", labels }
})
export const reference = (name: string, target: TableName): FieldSpec => ({
  name,
  kind: { _tag: "reference", target }
})

/** The handful of numbers the store keeps per record; everything else is derived from them. */
export interface RecordState {
  readonly index: number
  readonly createdOn: number
  readonly updatedOn: number
  /** When the record's lifecycle state last changed (drives resolved_at, closed_at). */
  readonly stageOn: number
  readonly modCount: number
  /** The sys_mod_count the record was generated with; updates after it are replayed. */
  readonly initMod: number
  readonly baseSalt: number
  readonly updateSalt: number
}

/** What generators may ask about the rest of the data set. */
export interface GenContext {
  readonly seed: number
  readonly baseTime: number
  /** References only point at a target's initial records, so generation never depends on later history. */
  readonly initialCount: (table: TableName) => number
  readonly sysId: (table: TableName, index: number) => string
  readonly userName: (index: number) => string
  readonly ciName: (index: number) => string
  readonly auditEntry: (index: number) => { readonly tablename: string; readonly documentkey: string }
}

/**
 * The draws for one (record, version). It remembers the references it picked so a mutation can
 * retry with another salt until every new reference points at a record that exists right now.
 */
export class Draw {
  readonly picked: Array<readonly [TableName, number]> = []
  stageChanged = false

  constructor(
    readonly rng: Prng,
    readonly ctx: GenContext
  ) {}

  /** Starts the draws of another version (one Draw serves a whole materialisation). */
  reset(seed: number): this {
    this.rng.reseed(seed)
    this.picked.length = 0
    this.stageChanged = false
    return this
  }

  /** A random initial record of `table` (below `limit` when given), or -1 when there is none. */
  refIndex(table: TableName, limit?: number): number {
    const n = Math.min(this.ctx.initialCount(table), limit ?? Number.MAX_SAFE_INTEGER)
    if (n <= 0) return -1
    const index = this.rng.int(n)
    this.picked.push([table, index])
    return index
  }

  /** A reference value: the sys_id of a random initial record, or "" with probability 1 - p. */
  ref(table: TableName, p = 1, limit?: number): string {
    if (p < 1 && !this.rng.chance(p)) return ""
    const index = this.refIndex(table, limit)
    return index < 0 ? "" : this.ctx.sysId(table, index)
  }

  pick<A>(items: ReadonlyArray<A>): A {
    return this.rng.pick(items)
  }

  weighted<A>(items: ReadonlyArray<A>, weights: ReadonlyArray<number>): A {
    return this.rng.weighted(items, weights)
  }

  chance(p: number): boolean {
    return this.rng.chance(p)
  }

  int(n: number): number {
    return this.rng.int(n)
  }
}

export type MutableRecord = Record<string, string>

export interface TableSpec {
  readonly name: TableName
  /** Business fields; the common `sys_*` fields are added by the catalog. */
  readonly fields: ReadonlyArray<FieldSpec>
  /** The field a reference to this table displays (`sysparm_display_value=true`). */
  readonly displayField: string
  /**
   * The display value of record `index` without materialising it (display fields never change);
   * without it a reference's display value is read from the materialised target.
   */
  readonly display?: (ctx: GenContext, index: number) => string
  /** Business fields at version `initMod`; `created` is true for records made by a mutation. */
  readonly base: (draw: Draw, state: RecordState, created: boolean) => MutableRecord
  /** Applies one update (a new version) in place; sets `draw.stageChanged` when the state moved. */
  readonly update: (draw: Draw, record: MutableRecord, state: RecordState) => void
  /** Initial sys_mod_count distribution (0 means never updated: created on = updated on). */
  readonly maxInitialMods: number
  readonly readOnly?: boolean
  /** sys_created_on equals sys_updated_on for every row, so the index serves either ordering. */
  readonly createdIsUpdated?: boolean
}

export const numbered = (prefix: string, index: number): string => prefix + String(index + 1).padStart(7, "0")

/** Picks 1..max distinct entries of `fields` (at most 31) to change in an update. */
export const pickFields = <A>(draw: Draw, fields: ReadonlyArray<A>, max: number): ReadonlyArray<A> => {
  const k = 1 + draw.int(Math.min(max, fields.length))
  const out: Array<A> = []
  let used = 0
  for (let i = 0; i < k; i++) {
    let at = draw.int(fields.length)
    while ((used & (1 << at)) !== 0) at = (at + 1) % fields.length
    used |= 1 << at
    out.push(fields[at] as A)
  }
  return out
}
