import type { Dataset } from "./Dataset.js"
import type { MutableRecord, RecordState, TableName } from "./tables/TableSpec.js"

/**
 * The ground truth of one table at one instant: every live record in raw form (as served with
 * `sysparm_exclude_reference_link=true`), in sys_id order, plus the sys_ids of deleted records
 * and of records marked invalid (which the truth shows as they really are).
 *
 * Only the per-record numbers that change with a new version are copied, so the snapshot stays
 * consistent while it is streamed and mutations carry on; records are materialised as read.
 */
export class TruthSnapshot {
  readonly size: number
  readonly deleted: ReadonlyArray<string>
  readonly invalid: ReadonlyArray<string>
  private readonly order: Int32Array
  private readonly updatedOn: Uint32Array
  private readonly stageOn: Uint32Array
  private readonly modCount: Uint32Array
  private readonly updateSalt: Uint8Array

  constructor(
    private readonly dataset: Dataset,
    readonly table: TableName
  ) {
    const store = dataset.store(table)
    const all = store.allByIdOrder()
    const live = new Int32Array(store.liveCount)
    const deleted: Array<string> = []
    const invalid: Array<string> = []
    let n = 0
    for (const r of all) {
      if (!store.isLive(r)) {
        deleted.push(store.idHex(r))
        continue
      }
      live[n++] = r
      if (store.isInvalid(r)) invalid.push(store.idHex(r))
    }
    this.order = live.subarray(0, n)
    this.size = n
    this.deleted = deleted
    this.invalid = invalid
    this.updatedOn = new Uint32Array(n)
    this.stageOn = new Uint32Array(n)
    this.modCount = new Uint32Array(n)
    this.updateSalt = new Uint8Array(n)
    for (let k = 0; k < n; k++) {
      const r = this.order[k] as number
      this.updatedOn[k] = store.updatedOn[r] as number
      this.stageOn[k] = store.stageOn[r] as number
      this.modCount[k] = store.modCount[r] as number
      this.updateSalt[k] = store.updateSalt[r] as number
    }
  }

  /** The `k`-th live record in sys_id order. */
  record(k: number): MutableRecord {
    const r = this.order[k] as number
    const store = this.dataset.store(this.table)
    const state: RecordState = {
      index: r,
      createdOn: store.createdOn[r] as number,
      updatedOn: this.updatedOn[k] as number,
      stageOn: this.stageOn[k] as number,
      modCount: this.modCount[k] as number,
      initMod: store.initMod[r] as number,
      baseSalt: store.baseSalt[r] as number,
      updateSalt: this.updateSalt[k] as number
    }
    return this.dataset.materialise(this.table, state).record
  }

  *records(): IterableIterator<MutableRecord> {
    for (let k = 0; k < this.size; k++) yield this.record(k)
  }
}
