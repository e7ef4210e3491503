import { hash4, hashString, Prng } from "./Hash.js"
import type { TableCounts } from "./Scale.js"
import { TableStore } from "./TableStore.js"
import { SPECS } from "./tables/Catalog.js"
import { ciName } from "./tables/Cmdb.js"
import { userName } from "./tables/People.js"
import type { GenContext, MutableRecord, RecordState, TableName } from "./tables/TableSpec.js"
import { Draw, TABLE_NAMES } from "./tables/TableSpec.js"
import { formatDateTime } from "./Time.js"

export interface DatasetOptions {
  readonly seed: number | string
  readonly baseTime: number
  readonly counts: TableCounts
}

export interface Materialised {
  readonly record: MutableRecord
  /** The draw of the newest version (base or last update): its picked references and stage flag. */
  readonly lastDraw: Draw
}

/**
 * All tables plus the deletion audit log. A record's fields are a pure function of its table,
 * index and the few numbers its store keeps (see `TableStore`), so the same options always give
 * the same records and a record only changes when its version does.
 */
export class Dataset {
  readonly seedHash: number
  readonly stores: Readonly<Record<TableName, TableStore>>
  readonly ctx: GenContext
  private readonly auditTables: Array<TableName> = []
  private readonly auditKeys: Array<string> = []

  constructor(readonly options: DatasetOptions) {
    this.seedHash = typeof options.seed === "number" ? hash4(options.seed >>> 0, 0x5eed) : hashString(options.seed)
    const stores = {} as Record<TableName, TableStore>
    for (const name of TABLE_NAMES) {
      const count = name === "sys_audit_delete" ? 0 : options.counts[name]
      stores[name] = new TableStore(SPECS[name], this.seedHash, options.baseTime, Math.max(0, Math.floor(count)))
    }
    this.stores = stores
    const users = stores.sys_user.initialCount
    const seed = this.seedHash
    this.ctx = {
      seed,
      baseTime: options.baseTime,
      initialCount: (table) => stores[table].initialCount,
      sysId: (table, index) => stores[table].idHex(index),
      userName: (index) => (users === 0 ? "admin" : userName(index % users)),
      ciName: (index) => ciName(seed, index),
      auditEntry: (index) => ({
        tablename: this.auditTables[index] ?? "",
        documentkey: this.auditKeys[index] ?? ""
      })
    }
  }

  store(table: TableName): TableStore {
    return this.stores[table]
  }

  /** Materialises record `state.index` of `table` as it is at `state.modCount`. */
  materialise(table: TableName, state: RecordState): Materialised {
    const store = this.stores[table]
    const spec = store.spec
    const r = state.index
    const created = r >= store.initialCount
    const draw = new Draw(new Prng(hash4(store.salt, r, 0x0ba5e, state.baseSalt)), this.ctx)
    const record: MutableRecord = { sys_id: store.idHex(r), ...spec.base(draw, state, created) }
    for (let version = state.initMod + 1; version <= state.modCount; version++) {
      // Only the newest update's salt is stored; older updates replay with salt 0.
      const salt = version === state.modCount ? state.updateSalt : 0
      spec.update(draw.reset(hash4(store.salt, r, version, salt)), record, state)
    }
    const creator = this.ctx.userName(hash4(store.salt, r, 0xc7))
    record.sys_created_on = formatDateTime(state.createdOn)
    record.sys_updated_on = formatDateTime(state.updatedOn)
    record.sys_mod_count = String(state.modCount)
    record.sys_created_by = creator
    record.sys_updated_by = state.modCount === 0
      ? creator
      : this.ctx.userName(hash4(store.salt, r, 0xd8, state.modCount))
    return { record, lastDraw: draw }
  }

  /** The current raw record (as served with `sysparm_exclude_reference_link=true`). */
  record(table: TableName, r: number): MutableRecord {
    return this.materialise(table, this.stores[table].stateOf(r)).record
  }

  /** The display value of a reference to record `r` of `table` ("" when it no longer exists). */
  displayOf(table: TableName, r: number): string {
    const store = this.stores[table]
    if (!store.isLive(r)) return ""
    const spec = store.spec
    if (spec.display !== undefined) return spec.display(this.ctx, r)
    return this.record(table, r)[spec.displayField] ?? ""
  }

  /** Whether every reference a draw picked points at a record that exists now. */
  referencesLive(draw: Draw): boolean {
    for (const [table, index] of draw.picked) if (!this.stores[table].isLive(index)) return false
    return true
  }

  /** Appends one sys_audit_delete row per deleted record of `table`, all stamped `at`. */
  appendAudits(table: TableName, sysIds: ReadonlyArray<string>, at: number): void {
    const audit = this.stores.sys_audit_delete
    const rows: Array<number> = []
    for (const sysId of sysIds) {
      this.auditTables.push(table)
      this.auditKeys.push(sysId)
      rows.push(audit.create(at, 0))
    }
    audit.indexAt(at, rows)
  }
}
