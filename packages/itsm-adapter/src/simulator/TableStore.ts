import { compareIds, hash4, hashString, hexToId, idToHex } from "./Hash.js"
import { SortedIndex } from "./SortedIndex.js"
import type { RecordState, TableName, TableSpec } from "./tables/TableSpec.js"

export const FLAG_DELETED = 1
export const FLAG_INVALID = 2

const DAY = 86_400
/** Initial sys_updated_on values fall in the 90 days before the base time. */
const UPDATE_WINDOW = 90 * DAY
/** Records are created over a longer span, in index order, so numbers grow with creation time. */
const CREATE_WINDOW = 150 * DAY
/** Share of initial records stamped by bulk jobs: one instant per ~400 records gives many ties. */
const BATCH_SHARE = 3
/**
 * sys_ids of the first records are kept as strings once formatted: referenced records (users,
 * groups, CIs) are formatted again for every record that points at them. Bounded, so a million
 * incidents do not keep a million strings.
 */
const HEX_CACHE_LIMIT = 200_000
const RECENT_MERGE_AT = 4096

/**
 * One table's records as a handful of numbers each, in growable typed arrays indexed by record
 * index (initial records first, then records created by mutations). Field values are derived
 * from these numbers on demand; nothing else is stored.
 */
export class TableStore {
  readonly name: TableName
  readonly salt: number
  count = 0
  liveCount = 0
  idWords = new Uint32Array(0)
  createdOn = new Uint32Array(0)
  updatedOn = new Uint32Array(0)
  stageOn = new Uint32Array(0)
  modCount = new Uint32Array(0)
  initMod = new Uint8Array(0)
  baseSalt = new Uint8Array(0)
  updateSalt = new Uint8Array(0)
  flags = new Uint8Array(0)
  readonly index: SortedIndex
  /** Every record (deleted ones too) in sys_id order, plus recent creates merged in batches. */
  private byId: Int32Array
  private recentById: Array<number> = []
  private readonly probe = new Uint32Array(4)
  private readonly hexCache: Array<string | undefined> = []

  constructor(
    readonly spec: TableSpec,
    seedHash: number,
    baseTime: number,
    readonly initialCount: number
  ) {
    this.name = spec.name
    this.salt = hash4(seedHash, hashString(spec.name))
    this.index = new SortedIndex(this)
    this.ensureCapacity(initialCount)
    this.generate(baseTime, initialCount)
    this.byId = sortBy(initialCount, this.idWords, (r) => this.idWords[r * 4] as number)
    const byUpdate = sortBy(initialCount, this.idWords, (r) => this.updatedOn[r] as number)
    this.index.load(byUpdate, this.updatedOn, initialCount)
  }

  private generate(baseTime: number, n: number): void {
    const salt = this.salt
    const batches = Math.max(1, Math.floor(n / 400))
    const maxMods = this.spec.maxInitialMods
    for (let i = 0; i < n; i++) {
      this.writeId(i)
      const updated = hash4(salt, i, 1) % 10 < BATCH_SHARE
        ? baseTime - 1 - (hash4(salt, hash4(salt, i, 2) % batches, 0xba7c) % UPDATE_WINDOW)
        : baseTime - 1 - (hash4(salt, i, 3) % UPDATE_WINDOW)
      const created = Math.min(updated, baseTime - CREATE_WINDOW + Math.floor((i * CREATE_WINDOW) / n))
      const mods = created === updated || maxMods === 0 ? 0 : 1 + (hash4(salt, i, 4) % maxMods)
      this.createdOn[i] = created
      this.updatedOn[i] = updated
      this.stageOn[i] = created + Math.floor((updated - created) * (hash4(salt, i, 5) / 4294967296))
      this.modCount[i] = mods
      this.initMod[i] = mods
    }
    this.count = n
    this.liveCount = n
  }

  private writeId(r: number): void {
    for (let k = 0; k < 4; k++) this.idWords[r * 4 + k] = hash4(this.salt, r, 0x1d, k)
  }

  isLive(r: number): boolean {
    return r >= 0 && r < this.count && ((this.flags[r] as number) & FLAG_DELETED) === 0
  }

  isInvalid(r: number): boolean {
    return ((this.flags[r] as number) & FLAG_INVALID) !== 0
  }

  idHex(r: number): string {
    if (r >= HEX_CACHE_LIMIT) return idToHex(this.idWords, r)
    return (this.hexCache[r] ??= idToHex(this.idWords, r))
  }

  /** Record index of a sys_id (live or deleted), or -1. */
  findById(hex: string): number {
    if (!hexToId(hex, this.probe)) return -1
    for (const sorted of [this.byId, this.recentById]) {
      const at = this.idLowerBound(sorted, this.probe, false)
      const r = sorted[at]
      if (r !== undefined && compareWithProbe(this.idWords, r, this.probe) === 0) return r
    }
    return -1
  }

  /**
   * Visits records (deleted ones too) in sys_id order from `from` (or the lowest id), until
   * `visit` returns false: the order of a key listing (`ORDERBYsys_id`).
   */
  scanById(from: Uint32Array | null, visit: (r: number) => boolean): void {
    const main = this.byId
    const recent = this.recentById
    let i = from === null ? 0 : this.idLowerBound(main, from, false)
    let j = from === null ? 0 : this.idLowerBound(recent, from, false)
    while (i < main.length || j < recent.length) {
      let r: number
      if (j >= recent.length) r = main[i++] as number
      else if (i >= main.length) r = recent[j++] as number
      else {
        const a = main[i] as number
        const b = recent[j] as number
        r = compareIds(this.idWords, a, b) <= 0 ? (i++, a) : (j++, b)
      }
      if (!visit(r)) return
    }
  }

  private idLowerBound(sorted: ArrayLike<number>, id: Uint32Array, strict: boolean): number {
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const cmp = compareWithProbe(this.idWords, sorted[mid] as number, id)
      if (cmp < 0 || (strict && cmp === 0)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  stateOf(r: number): RecordState {
    return {
      index: r,
      createdOn: this.createdOn[r] as number,
      updatedOn: this.updatedOn[r] as number,
      stageOn: this.stageOn[r] as number,
      modCount: this.modCount[r] as number,
      initMod: this.initMod[r] as number,
      baseSalt: this.baseSalt[r] as number,
      updateSalt: this.updateSalt[r] as number
    }
  }

  /** Appends a record created at `at`; the caller indexes it (see `indexAt`). */
  create(at: number, baseSalt: number): number {
    const r = this.count
    this.ensureCapacity(r + 1)
    this.writeId(r)
    this.createdOn[r] = at
    this.updatedOn[r] = at
    this.stageOn[r] = at
    this.modCount[r] = 0
    this.initMod[r] = 0
    this.baseSalt[r] = baseSalt
    this.updateSalt[r] = 0
    this.flags[r] = 0
    this.count++
    this.liveCount++
    this.addToIdOrder(r)
    this.index.ensureRecords(this.count)
    return r
  }

  /** Records a new version; the caller re-indexes the record at `at` (see `indexAt`). */
  bumpVersion(r: number, at: number, updateSalt: number, stageChanged: boolean): void {
    this.index.remove(r)
    this.modCount[r] = (this.modCount[r] as number) + 1
    this.updatedOn[r] = at
    this.updateSalt[r] = updateSalt
    if (stageChanged) this.stageOn[r] = at
  }

  /** (Re-)inserts records whose sys_updated_on is now `at` into the sorted index. */
  indexAt(at: number, records: ReadonlyArray<number>): void {
    const sorted = [...records].sort((a, b) => compareIds(this.idWords, a, b))
    this.index.appendAt(at, sorted)
  }

  delete(r: number): void {
    this.index.remove(r)
    this.flags[r] = (this.flags[r] as number) | FLAG_DELETED
    this.liveCount--
  }

  markInvalid(r: number): void {
    this.flags[r] = (this.flags[r] as number) | FLAG_INVALID
  }

  /** Every record index (live and deleted) in sys_id order. */
  allByIdOrder(): Int32Array {
    const out = new Int32Array(this.count)
    let k = 0
    this.scanById(null, (r) => {
      out[k++] = r
      return true
    })
    return out
  }

  /**
   * Creates go to a small sorted list, merged into the main order when it grows: a memmove of
   * the whole order per create would make a burst of creates quadratic.
   */
  private addToIdOrder(r: number): void {
    const recent = this.recentById
    recent.splice(this.idLowerBound(recent, this.idWords.subarray(r * 4, r * 4 + 4), false), 0, r)
    if (recent.length < RECENT_MERGE_AT) return
    const merged = new Int32Array(this.byId.length + recent.length)
    let k = 0
    this.scanById(null, (x) => {
      merged[k++] = x
      return true
    })
    this.byId = merged
    this.recentById = []
  }

  private ensureCapacity(needed: number): void {
    if (needed <= this.createdOn.length) return
    let size = Math.max(16, this.createdOn.length)
    while (size < needed) size *= 2
    this.idWords = growTo(this.idWords, size * 4, Uint32Array)
    this.createdOn = growTo(this.createdOn, size, Uint32Array)
    this.updatedOn = growTo(this.updatedOn, size, Uint32Array)
    this.stageOn = growTo(this.stageOn, size, Uint32Array)
    this.modCount = growTo(this.modCount, size, Uint32Array)
    this.initMod = growTo(this.initMod, size, Uint8Array)
    this.baseSalt = growTo(this.baseSalt, size, Uint8Array)
    this.updateSalt = growTo(this.updateSalt, size, Uint8Array)
    this.flags = growTo(this.flags, size, Uint8Array)
  }
}

const growTo = <A extends Uint32Array | Uint8Array>(
  current: A,
  size: number,
  Ctor: new(size: number) => A
): A => {
  const next = new Ctor(size)
  next.set(current)
  return next
}

const compareWithProbe = (words: Uint32Array, r: number, probe: Uint32Array): number => {
  const o = r * 4
  for (let k = 0; k < 4; k++) {
    const a = words[o + k] as number
    const b = probe[k] as number
    if (a !== b) return a < b ? -1 : 1
  }
  return 0
}

/**
 * Record indexes 0..n-1 sorted by a 32-bit key, then by sys_id. An LSD radix sort on the key is
 * linear (a comparator sort of a million indexes takes seconds); runs of equal keys, which are
 * short, are then sorted by sys_id.
 */
const sortBy = (n: number, words: Uint32Array, key: (r: number) => number): Int32Array => {
  const keys = new Uint32Array(n)
  for (let r = 0; r < n; r++) keys[r] = key(r)
  let src = new Int32Array(n)
  for (let r = 0; r < n; r++) src[r] = r
  let dst = new Int32Array(n)
  for (const shift of [0, 16]) {
    const counts = new Int32Array(65537)
    for (let i = 0; i < n; i++) counts[(((keys[src[i] as number] as number) >>> shift) & 0xffff) + 1]++
    for (let b = 0; b < 65536; b++) counts[b + 1] = (counts[b + 1] as number) + (counts[b] as number)
    for (let i = 0; i < n; i++) {
      const r = src[i] as number
      const bucket = ((keys[r] as number) >>> shift) & 0xffff
      dst[counts[bucket] as number] = r
      counts[bucket]++
    }
    const swap = src
    src = dst
    dst = swap
  }
  let start = 0
  for (let i = 1; i <= n; i++) {
    if (i < n && keys[src[i] as number] === keys[src[start] as number]) continue
    if (i - start > 1) src.subarray(start, i).sort((a, b) => compareIds(words, a, b))
    start = i
  }
  return src
}
