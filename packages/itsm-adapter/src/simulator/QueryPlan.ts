import type { Dataset } from "./Dataset.js"
import type { EncodedQuery, Group, OrderBy, Term } from "./EncodedQuery.js"
import { compareIds, hexToId } from "./Hash.js"
import { compilePredicate, type Predicate, RowCursor } from "./Predicate.js"
import type { TableStore } from "./TableStore.js"
import { parseDateTime } from "./Time.js"

/** A key (sys_updated_on, sys_id) in the sorted index; `id` null is the lowest id. */
export interface KeyBound {
  readonly ts: number
  readonly id: Uint32Array | null
  readonly strict: boolean
}

export interface Plan {
  readonly predicate: Predicate
  /** Every match has a key at or above this: where a scan of the index may start. */
  readonly scanFrom: KeyBound | null
  /** When the predicate is exactly "key from here on", matches can be counted without a scan. */
  readonly exactFrom: KeyBound | "all" | null
  /** Every match has a sys_id at or above this: where a key listing (`ORDERBYsys_id`) starts. */
  readonly idFrom: Uint32Array | null
  /** When every group pins sys_id to a list, the candidates are looked up, not scanned. */
  readonly ids: ReadonlyArray<string> | null
  readonly order:
    | { readonly kind: "index"; readonly descending: boolean }
    | { readonly kind: "id" }
    | { readonly kind: "sort"; readonly keys: ReadonlyArray<OrderBy> }
}

export interface Page {
  readonly records: ReadonlyArray<number>
  /** Matches of the whole query, or null when not asked for. */
  readonly total: number | null
  readonly hasMore: boolean
}

/** What one AND-group says about the index key, used to bound and count. */
interface GroupKeys {
  readonly scanFrom: KeyBound | null
  /** `key >= (ts, -)`: the group is one lower bound on the timestamp and nothing else. */
  readonly from: number | undefined
  /** `ts = X ^ sys_id > Y`: the tie-breaking half of a keyset query. */
  readonly tie: KeyBound | undefined
  readonly idFrom: Uint32Array | null
}

export const plan = (store: TableStore, query: EncodedQuery): Plan => {
  const isTs = (name: string) =>
    name === "sys_updated_on" || (store.spec.createdIsUpdated === true && name === "sys_created_on")
  const groups = query.groups.map((group) => analyseGroup(group, isTs))
  const scanFrom = groups.length === 0 || groups.some((g) => g.scanFrom === null)
    ? null
    : groups.map((g) => g.scanFrom as KeyBound).reduce((a, b) => (compareBounds(a, b) <= 0 ? a : b))
  const idFrom = groups.length === 0 || groups.some((g) => g.idFrom === null)
    ? null
    : groups.map((g) => g.idFrom as Uint32Array).reduce((a, b) => (compareWords(a, b) <= 0 ? a : b))
  return {
    predicate: compilePredicate(query),
    scanFrom,
    idFrom,
    exactFrom: exactFrom(groups),
    ids: pinnedIds(query.groups),
    order: orderPlan(query.orderBy, isTs)
  }
}

const analyseGroup = (group: Group, isTs: (name: string) => boolean): GroupKeys => {
  let tsLow: number | undefined
  let tsEq: number | undefined
  let tsTerms = 0
  let lowerOp: string | undefined
  let idTerm: Term | undefined
  let pure = true
  for (const clause of group) {
    const term = clause[0] as Term
    if (clause.length !== 1) {
      pure = false
      continue
    }
    const name = term.field.name
    const lit = isTs(name) ? parseDateTime(term.value) : undefined
    if (lit !== undefined && (term.op === ">" || term.op === ">=" || term.op === "=")) {
      const low = term.op === ">" ? lit + 1 : lit
      if (term.op === "=") tsEq = lit
      tsLow = tsLow === undefined ? low : Math.max(tsLow, low)
      lowerOp = term.op
      tsTerms++
    } else if (name === "sys_id" && (term.op === ">" || term.op === ">=" || term.op === "=") && idTerm === undefined) {
      idTerm = term
    } else pure = false
  }
  const idWords = idTerm !== undefined ? parseId(idTerm.value) : null
  const scanFrom: KeyBound | null = tsLow === undefined
    ? null
    : { ts: tsLow, id: tsEq === tsLow ? idWords : null, strict: false }
  const from = pure && tsTerms === 1 && idTerm === undefined && lowerOp !== "=" ? tsLow : undefined
  const tie = pure && tsTerms === 1 && tsEq !== undefined && idWords !== null && idTerm !== undefined &&
      idTerm.op !== "="
    ? { ts: tsEq, id: idWords, strict: idTerm.op === ">" }
    : undefined
  return { scanFrom, from, tie, idFrom: idWords }
}

const parseId = (text: string): Uint32Array | null => {
  const words = new Uint32Array(4)
  return hexToId(text, words) ? words : null
}

/** Recognises the adapter's keyset query (and a plain lower bound) as an exact key range. */
const exactFrom = (groups: ReadonlyArray<GroupKeys>): KeyBound | "all" | null => {
  if (groups.length === 0) return "all"
  const [a, b] = groups as [GroupKeys, GroupKeys | undefined]
  if (groups.length === 1) return a.from !== undefined ? { ts: a.from, id: null, strict: false } : null
  if (groups.length !== 2 || b === undefined) return null
  const range = a.from !== undefined && b.tie !== undefined ? [a.from, b.tie] as const : b.from !== undefined &&
      a.tie !== undefined
    ? [b.from, a.tie] as const
    : undefined
  if (range === undefined) return null
  const [from, tie] = range
  if (from === tie.ts + 1) return tie
  return from <= tie.ts ? { ts: from, id: null, strict: false } : null
}

const pinnedIds = (groups: ReadonlyArray<Group>): ReadonlyArray<string> | null => {
  if (groups.length === 0) return null
  const ids: Array<string> = []
  for (const group of groups) {
    const pin = group.find((clause) =>
      clause.length === 1 && clause[0]?.field.name === "sys_id" && (clause[0].op === "=" || clause[0].op === "IN")
    )
    if (pin === undefined) return null
    ids.push(...(pin[0] as Term).value.split(","))
  }
  return ids
}

const orderPlan = (orderBy: ReadonlyArray<OrderBy>, isTs: (name: string) => boolean): Plan["order"] => {
  if (orderBy.length === 0) return { kind: "index", descending: false }
  const [first, second] = orderBy as [OrderBy, OrderBy | undefined]
  if (orderBy.length === 1 && first.field.name === "sys_id" && !first.descending) return { kind: "id" }
  const indexable = isTs(first.field.name) && (orderBy.length === 1 ||
    (orderBy.length === 2 && second !== undefined && second.field.name === "sys_id" &&
      second.descending === first.descending))
  return indexable ? { kind: "index", descending: first.descending } : { kind: "sort", keys: orderBy }
}

const compareWords = (a: Uint32Array, b: Uint32Array): number => {
  for (let k = 0; k < 4; k++) if (a[k] !== b[k]) return (a[k] as number) - (b[k] as number)
  return 0
}

const compareBounds = (a: KeyBound, b: KeyBound): number => {
  if (a.ts !== b.ts) return a.ts - b.ts
  if (a.id === null || b.id === null) return a.id === null ? (b.id === null ? 0 : -1) : 1
  return compareWords(a.id, b.id)
}

/** Runs a plan: the page of record indexes at `offset`, and the total when `wantCount`. */
export const execute = (
  dataset: Dataset,
  store: TableStore,
  p: Plan,
  offset: number,
  limit: number,
  wantCount: boolean
): Page => {
  const row = new RowCursor(dataset, store)
  if (p.ids !== null) return fromCandidates(store, p, row, lookup(store, p.ids), offset, limit)
  if (p.order.kind === "id") return byIdOrder(store, p, row, offset, limit, wantCount)
  const index = store.index
  const start = p.scanFrom === null ? 0 : index.lowerBound(p.scanFrom.ts, p.scanFrom.id, false)
  if (p.order.kind === "sort") {
    const matches: Array<number> = []
    for (let pos = start; pos < index.length; pos++) {
      const r = index.order[pos] as number
      if (r >= 0 && p.predicate(row.load(r))) matches.push(r)
    }
    return fromCandidates(store, p, row, matches, offset, limit)
  }
  const exactTotal = !wantCount || p.exactFrom === null
    ? null
    : p.exactFrom === "all"
    ? store.liveCount
    : index.liveFrom(index.lowerBound(p.exactFrom.ts, p.exactFrom.id, p.exactFrom.strict))
  const mustCount = wantCount && exactTotal === null
  const out: Array<number> = []
  let matched = 0
  let hasMore = false
  const descending = p.order.descending
  const end = index.length
  for (let k = 0; k < end - start; k++) {
    const r = index.order[descending ? end - 1 - k : start + k] as number
    if (r < 0 || !p.predicate(row.load(r))) continue
    if (matched >= offset) {
      if (out.length < limit) out.push(r)
      else {
        hasMore = true
        if (!mustCount) break
      }
    }
    matched++
  }
  return { records: out, total: wantCount ? (exactTotal ?? matched) : null, hasMore }
}

/** A key listing: sys_id order, from the lowest id the query allows. */
const byIdOrder = (
  store: TableStore,
  p: Plan,
  row: RowCursor,
  offset: number,
  limit: number,
  wantCount: boolean
): Page => {
  const out: Array<number> = []
  let matched = 0
  let hasMore = false
  store.scanById(p.idFrom, (r) => {
    if (!store.isLive(r) || !p.predicate(row.load(r))) return true
    if (matched >= offset) {
      if (out.length < limit) out.push(r)
      else {
        hasMore = true
        if (!wantCount) return false
      }
    }
    matched++
    return true
  })
  return { records: out, total: wantCount ? matched : null, hasMore }
}

const lookup = (store: TableStore, ids: ReadonlyArray<string>): Array<number> => {
  const seen = new Set<number>()
  for (const id of ids) {
    const r = store.findById(id)
    if (store.isLive(r)) seen.add(r)
  }
  return [...seen].sort((a, b) =>
    (store.updatedOn[a] as number) - (store.updatedOn[b] as number) || compareIds(store.idWords, a, b)
  )
}

/** Filters (ts, id)-ordered candidates, orders them as the plan says and cuts the page. */
const fromCandidates = (
  store: TableStore,
  p: Plan,
  row: RowCursor,
  candidates: ReadonlyArray<number>,
  offset: number,
  limit: number
): Page => {
  let matches = candidates.filter((r) => p.predicate(row.load(r)))
  if (p.order.kind === "index" && p.order.descending) matches = matches.reverse()
  else if (p.order.kind === "id") matches = matches.sort((a, b) => compareIds(store.idWords, a, b))
  else if (p.order.kind === "sort") matches = sortByKeys(store, row, matches, p.order.keys)
  return {
    records: matches.slice(offset, offset + limit),
    total: matches.length,
    hasMore: matches.length > offset + limit
  }
}

const sortByKeys = (
  store: TableStore,
  row: RowCursor,
  records: ReadonlyArray<number>,
  keys: ReadonlyArray<OrderBy>
): Array<number> => {
  const columns = keys.map(({ field }) =>
    records.map((r): string | number => {
      if (field.name === "sys_updated_on") return store.updatedOn[r] as number
      if (field.name === "sys_created_on") return store.createdOn[r] as number
      const value = row.load(r).value(field.name)
      return field.kind._tag === "integer" ? (value === "" ? -Infinity : Number(value)) : value
    })
  )
  const positions = records.map((_, i) => i)
  // Array.prototype.sort is stable: ties keep the (sys_updated_on, sys_id) order of `records`.
  positions.sort((i, j) => {
    for (let k = 0; k < keys.length; k++) {
      const a = (columns[k] as Array<string | number>)[i] as string | number
      const b = (columns[k] as Array<string | number>)[j] as string | number
      if (a !== b) return (a < b ? -1 : 1) * ((keys[k] as OrderBy).descending ? -1 : 1)
    }
    return 0
  })
  return positions.map((i) => records[i] as number)
}
