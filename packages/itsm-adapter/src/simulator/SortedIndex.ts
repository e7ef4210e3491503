import { compareIdTo } from "./Hash.js"

/** Where the store keeps sys_ids (the arrays grow, so the index asks each time). */
export interface IdSource {
  readonly idWords: Uint32Array
}

const TOMBSTONE_FLOOR = 4096

/**
 * Live records ordered by (sys_updated_on, sys_id): the order of every keyset page.
 *
 * Entries are record indexes; an updated or deleted record leaves a tombstone (`~index`) that
 * keeps its old key, so binary search stays valid without shifting the array. Because the clock
 * never goes backwards, a new key is never below an existing one: updates and creates merge into
 * the tail segment that shares the newest timestamp. A Fenwick tree over tombstones lets an
 * exact range be counted in O(log n), so `X-Total-Count` does not turn each page into a scan.
 */
export class SortedIndex {
  order = new Int32Array(16)
  keyTs = new Uint32Array(16)
  length = 0
  tombstones = 0
  /** record index -> position in `order`, or -1 when the record is not in the index. */
  posOf = new Int32Array(16).fill(-1)
  private fenwick = new Int32Array(17)

  constructor(private readonly ids: IdSource) {}

  /** Loads records already sorted by key. */
  load(sorted: Int32Array, updatedOn: Uint32Array, recordCount: number): void {
    this.ensureRecords(recordCount)
    this.ensurePositions(sorted.length)
    for (let pos = 0; pos < sorted.length; pos++) {
      const r = sorted[pos] as number
      this.order[pos] = r
      this.keyTs[pos] = updatedOn[r] as number
      this.posOf[r] = pos
    }
    this.length = sorted.length
  }

  recordAt(pos: number): number {
    const entry = this.order[pos] as number
    return entry >= 0 ? entry : ~entry
  }

  /** First position whose key is >= (ts, id), or > when `strict`; `id` null means the lowest id. */
  lowerBound(ts: number, id: Uint32Array | null, strict: boolean): number {
    let lo = 0
    let hi = this.length
    const words = this.ids.idWords
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const t = this.keyTs[mid] as number
      let cmp = t < ts ? -1 : t > ts ? 1 : 0
      if (cmp === 0 && id !== null) cmp = compareIdTo(words, this.recordAt(mid), id)
      if (cmp < 0 || (strict && cmp === 0)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Live entries at positions >= `pos`. */
  liveFrom(pos: number): number {
    return this.length - pos - (this.tombstones - this.tombstonesBefore(pos))
  }

  remove(record: number): void {
    const pos = this.posOf[record] as number
    if (pos < 0) return
    this.order[pos] = ~record
    this.posOf[record] = -1
    this.fenwickAdd(pos, 1)
    this.tombstones++
  }

  /**
   * Inserts `records` (sorted by sys_id, none currently in the index) with key timestamp `ts`,
   * which must be >= every timestamp already indexed.
   */
  appendAt(ts: number, records: ReadonlyArray<number>): void {
    if (records.length === 0) return
    const segStart = this.lowerBound(ts, null, false)
    const segment: Array<number> = []
    for (let pos = segStart; pos < this.length; pos++) {
      const entry = this.order[pos] as number
      if (entry >= 0) segment.push(entry)
      else {
        this.fenwickAdd(pos, -1)
        this.tombstones--
      }
    }
    // The segment now lives in `segment`; growing must not see its dropped tombstones again.
    this.length = segStart
    this.ensurePositions(segStart + segment.length + records.length)
    const words = this.ids.idWords
    const probe = new Uint32Array(4)
    let pos = segStart
    let i = 0
    let j = 0
    while (i < segment.length || j < records.length) {
      let take: number
      if (j >= records.length) take = segment[i++] as number
      else if (i >= segment.length) take = records[j++] as number
      else {
        const b = records[j] as number
        probe.set(words.subarray(b * 4, b * 4 + 4))
        take = compareIdTo(words, segment[i] as number, probe) <= 0
          ? (segment[i++] as number)
          : (records[j++] as number)
      }
      this.order[pos] = take
      this.keyTs[pos] = ts
      this.posOf[take] = pos
      pos++
    }
    this.length = pos
    this.compactIfNeeded()
  }

  ensureRecords(count: number): void {
    if (count <= this.posOf.length) return
    const next = new Int32Array(grow(this.posOf.length, count)).fill(-1)
    next.set(this.posOf)
    this.posOf = next
  }

  private ensurePositions(count: number): void {
    if (count <= this.order.length) return
    const size = grow(this.order.length, count)
    const order = new Int32Array(size)
    order.set(this.order.subarray(0, this.length))
    const keyTs = new Uint32Array(size)
    keyTs.set(this.keyTs.subarray(0, this.length))
    this.order = order
    this.keyTs = keyTs
    this.rebuildFenwick()
  }

  private compactIfNeeded(): void {
    if (this.tombstones <= Math.max(TOMBSTONE_FLOOR, this.length >>> 2)) return
    let out = 0
    for (let pos = 0; pos < this.length; pos++) {
      const entry = this.order[pos] as number
      if (entry < 0) continue
      this.order[out] = entry
      this.keyTs[out] = this.keyTs[pos] as number
      this.posOf[entry] = out
      out++
    }
    this.length = out
    this.tombstones = 0
    this.fenwick.fill(0)
  }

  private rebuildFenwick(): void {
    const n = this.order.length
    const tree = new Int32Array(n + 1)
    for (let pos = 0; pos < this.length; pos++) if ((this.order[pos] as number) < 0) tree[pos + 1] = 1
    for (let i = 1; i <= n; i++) {
      const j = i + (i & -i)
      if (j <= n) tree[j] = (tree[j] as number) + (tree[i] as number)
    }
    this.fenwick = tree
  }

  private fenwickAdd(pos: number, delta: number): void {
    const tree = this.fenwick
    for (let i = pos + 1; i < tree.length; i += i & -i) tree[i] = (tree[i] as number) + delta
  }

  private tombstonesBefore(pos: number): number {
    let sum = 0
    for (let i = pos; i > 0; i -= i & -i) sum += this.fenwick[i] as number
    return sum
  }
}

const grow = (current: number, needed: number): number => {
  let size = Math.max(16, current)
  while (size < needed) size *= 2
  return size
}
