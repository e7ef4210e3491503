import { Either } from "effect"
import type { Dataset } from "./Dataset.js"
import { badRequest, type SimulatorRequestError } from "./Errors.js"
import { hash4, Prng } from "./Hash.js"
import type { TableStore } from "./TableStore.js"
import type { MutableRecord, RecordState, TableName } from "./tables/TableSpec.js"
import { isTableName } from "./tables/TableSpec.js"
import type { SimClock } from "./Time.js"
import { formatDateTime } from "./Time.js"

export interface MutationRequest {
  readonly table: string
  readonly creates?: number | undefined
  readonly updates?: number | undefined
  readonly deletes?: number | undefined
  /**
   * Every record of one call is stamped with the clock's second read once at the start of the
   * call; `true` states that intent explicitly (a burst of many records on one timestamp).
   */
  readonly sameTimestamp?: boolean | undefined
  /**
   * Update these sys_ids instead of random records; delete them instead when `deletes` is given
   * and `updates` is not. `updateKeys` / `deleteKeys` say it explicitly.
   */
  readonly keys?: ReadonlyArray<string> | undefined
  readonly updateKeys?: ReadonlyArray<string> | undefined
  readonly deleteKeys?: ReadonlyArray<string> | undefined
}

export interface MutationResult {
  readonly created: ReadonlyArray<string>
  readonly updated: ReadonlyArray<string>
  readonly deleted: ReadonlyArray<string>
  readonly at: string
}

/** One applied change, in mutation order: what webhooks deliver. */
export interface ChangeEvent {
  readonly table: TableName
  readonly operation: "insert" | "update" | "delete"
  readonly sys_id: string
  readonly sys_updated_on: string
  readonly record: MutableRecord | null
}

/** How many salts a new version may try before accepting a reference to a deleted record. */
const SALT_ATTEMPTS = 64

/**
 * Applies creates, updates and deletes. Random choices are seeded by a per-simulator mutation
 * counter, so the same sequence of calls on the same data gives the same result.
 */
export class Mutator {
  private counter = 0

  constructor(
    private readonly dataset: Dataset,
    private readonly clock: SimClock,
    /** Receives the change events of each call; null when nobody listens (no materialising). */
    private readonly listener: () => ((events: ReadonlyArray<ChangeEvent>) => void) | null
  ) {}

  apply(request: MutationRequest): Either.Either<MutationResult, SimulatorRequestError> {
    if (!isTableName(request.table)) return Either.left(badRequest(`Invalid table ${request.table}`))
    const table = request.table
    const store = this.dataset.store(table)
    if (store.spec.readOnly === true) return Either.left(badRequest(`Table ${table} is read-only`))
    for (const [name, value] of [["creates", request.creates], ["updates", request.updates], [
      "deletes",
      request.deletes
    ]] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
        return Either.left(badRequest(`Invalid ${name}: ${value}`, "expected a non-negative integer"))
      }
    }
    const byKey = (keys: ReadonlyArray<string> | undefined): Either.Either<Array<number>, SimulatorRequestError> => {
      const records: Array<number> = []
      for (const key of keys ?? []) {
        const r = store.findById(key)
        if (!store.isLive(r)) return Either.left(badRequest(`No live record ${key} in ${table}`))
        if (!records.includes(r)) records.push(r)
      }
      return Either.right(records)
    }
    const keysAreDeletes = (request.keys?.length ?? 0) > 0 && (request.deletes ?? 0) > 0 &&
      request.updates === undefined
    const updateKeys = byKey([...(request.updateKeys ?? []), ...(keysAreDeletes ? [] : request.keys ?? [])])
    const deleteKeys = byKey([...(request.deleteKeys ?? []), ...(keysAreDeletes ? request.keys ?? [] : [])])
    if (Either.isLeft(updateKeys)) return Either.left(updateKeys.left)
    if (Either.isLeft(deleteKeys)) return Either.left(deleteKeys.left)
    const both = updateKeys.right.find((r) => deleteKeys.right.includes(r))
    if (both !== undefined) return Either.left(badRequest(`${store.idHex(both)} cannot be both updated and deleted`))

    const rng = new Prng(hash4(this.dataset.seedHash, 0x307a7e, this.counter++))
    const at = this.clock.now()
    const stamp = formatDateTime(at)
    const taken = new Set<number>([...updateKeys.right, ...deleteKeys.right])
    const toUpdate = updateKeys.right.length > 0 ? updateKeys.right : pickLive(store, request.updates ?? 0, rng, taken)
    const toDelete = deleteKeys.right.length > 0
      ? deleteKeys.right
      : pickLive(store, keysAreDeletes ? 0 : request.deletes ?? 0, rng, taken)

    const created: Array<number> = []
    for (let i = 0; i < (request.creates ?? 0); i++) created.push(this.createOne(store, at))
    for (const r of toUpdate) this.updateOne(store, r, at)
    for (const r of toDelete) store.delete(r)
    store.indexAt(at, [...created, ...toUpdate])
    const deletedIds = toDelete.map((r) => store.idHex(r))
    if (deletedIds.length > 0) this.dataset.appendAudits(table, deletedIds, at)

    const listener = this.listener()
    if (listener !== null) {
      const events: Array<ChangeEvent> = []
      const upsert = (operation: "insert" | "update") => (r: number) =>
        events.push({
          table,
          operation,
          sys_id: store.idHex(r),
          sys_updated_on: stamp,
          record: this.dataset.record(table, r)
        })
      created.forEach(upsert("insert"))
      toUpdate.forEach(upsert("update"))
      for (const id of deletedIds) {
        events.push({ table, operation: "delete", sys_id: id, sys_updated_on: stamp, record: null })
      }
      if (events.length > 0) listener(events)
    }
    return Either.right({
      created: created.map((r) => store.idHex(r)),
      updated: toUpdate.map((r) => store.idHex(r)),
      deleted: deletedIds,
      at: stamp
    })
  }

  private createOne(store: TableStore, at: number): number {
    const r = store.create(at, 0)
    for (let salt = 0; salt < SALT_ATTEMPTS; salt++) {
      store.baseSalt[r] = salt
      if (this.dataset.referencesLive(this.dataset.materialise(store.name, store.stateOf(r)).lastDraw)) return r
    }
    store.baseSalt[r] = 0
    return r
  }

  private updateOne(store: TableStore, r: number, at: number): void {
    const current = store.stateOf(r)
    let chosen = 0
    let stageChanged = false
    for (let salt = 0; salt < SALT_ATTEMPTS; salt++) {
      const next: RecordState = {
        ...current,
        modCount: current.modCount + 1,
        updatedOn: at,
        stageOn: at,
        updateSalt: salt
      }
      const draw = this.dataset.materialise(store.name, next).lastDraw
      if (salt === 0 || this.dataset.referencesLive(draw)) {
        chosen = salt
        stageChanged = draw.stageChanged
      }
      if (this.dataset.referencesLive(draw)) break
    }
    store.bumpVersion(r, at, chosen, stageChanged)
  }
}

/** `n` distinct live records not in `taken` (fewer when the table runs out), chosen by `rng`. */
const pickLive = (store: TableStore, n: number, rng: Prng, taken: Set<number>): Array<number> => {
  const out: Array<number> = []
  const want = Math.min(n, store.liveCount - taken.size)
  let misses = 0
  while (out.length < want && misses < 64) {
    const r = rng.int(store.count)
    if (store.isLive(r) && !taken.has(r)) {
      taken.add(r)
      out.push(r)
      misses = 0
    } else misses++
  }
  // A table mostly deleted or mostly taken: walk from a random start instead of guessing.
  for (let k = 0, start = rng.int(Math.max(1, store.count)); out.length < want && k < store.count; k++) {
    const r = (start + k) % store.count
    if (store.isLive(r) && !taken.has(r)) {
      taken.add(r)
      out.push(r)
    }
  }
  return out
}
