import type { Dataset } from "./Dataset.js"
import type { Clause, EncodedQuery, Term } from "./EncodedQuery.js"
import { compareIdTo, hexToId } from "./Hash.js"
import type { TableStore } from "./TableStore.js"
import type { MutableRecord } from "./tables/TableSpec.js"
import { formatDateTime, parseDateTime } from "./Time.js"

/**
 * One candidate record under evaluation. The system fields are read straight from the store's
 * typed arrays; the record is only materialised when a term touches a business field, so the
 * keyset queries of a sync never build a record they do not return.
 */
export class RowCursor {
  r = -1
  private materialised: MutableRecord | null = null
  private hexId: string | null = null

  constructor(
    readonly dataset: Dataset,
    readonly store: TableStore
  ) {}

  load(r: number): this {
    this.r = r
    this.materialised = null
    this.hexId = null
    return this
  }

  hex(): string {
    return (this.hexId ??= this.store.idHex(this.r))
  }

  record(): MutableRecord {
    return (this.materialised ??= this.dataset.record(this.store.name, this.r))
  }

  value(field: string): string {
    switch (field) {
      case "sys_id":
        return this.hex()
      case "sys_updated_on":
        return formatDateTime(this.store.updatedOn[this.r] as number)
      case "sys_created_on":
        return formatDateTime(this.store.createdOn[this.r] as number)
      case "sys_mod_count":
        return String(this.store.modCount[this.r] as number)
      default:
        return this.record()[field] ?? ""
    }
  }
}

export type Predicate = (row: RowCursor) => boolean

const always: Predicate = () => true
const never: Predicate = () => false

/** The whole query's filter: groups ORed, clauses ANDed, terms within a clause ORed. */
export const compilePredicate = (query: EncodedQuery): Predicate => {
  if (query.groups.length === 0) return always
  const groups = query.groups.map((group) => group.map(compileClause))
  return (row) => {
    for (const clauses of groups) {
      let all = true
      for (const clause of clauses) {
        if (!clause(row)) {
          all = false
          break
        }
      }
      if (all) return true
    }
    return false
  }
}

const compileClause = (clause: Clause): Predicate => {
  const terms = clause.map(compileTerm)
  if (terms.length === 1) return terms[0] as Predicate
  return (row) => terms.some((term) => term(row))
}

const ordering = (op: string, cmp: number): boolean => {
  switch (op) {
    case ">":
      return cmp > 0
    case ">=":
      return cmp >= 0
    case "<":
      return cmp < 0
    case "<=":
      return cmp <= 0
    case "=":
      return cmp === 0
    default:
      return cmp !== 0
  }
}

const compileTerm = (term: Term): Predicate => {
  const { field, op, value } = term
  const name = field.name
  const isComparison = op === "=" || op === "!=" || op === ">" || op === ">=" || op === "<" || op === "<="
  if (name === "sys_updated_on" || name === "sys_created_on" || name === "sys_mod_count") {
    const read = name === "sys_updated_on"
      ? (row: RowCursor) => row.store.updatedOn[row.r] as number
      : name === "sys_created_on"
      ? (row: RowCursor) => row.store.createdOn[row.r] as number
      : (row: RowCursor) => row.store.modCount[row.r] as number
    const literal = (text: string): number | undefined => name === "sys_mod_count" ? Number(text) : parseDateTime(text)
    if (op === "ISEMPTY") return never
    if (op === "ISNOTEMPTY") return always
    if (isComparison) {
      const lit = literal(value)
      if (lit === undefined || Number.isNaN(lit)) return op === "!=" ? always : never
      return (row) => ordering(op, read(row) - lit)
    }
    if (op === "IN" || op === "NOT IN") {
      const set = new Set(value.split(",").map(literal).filter((n): n is number => n !== undefined))
      return op === "IN" ? (row) => set.has(read(row)) : (row) => !set.has(read(row))
    }
  }
  if (name === "sys_id" && isComparison) {
    const words = new Uint32Array(4)
    if (hexToId(value, words)) return (row) => ordering(op, compareIdTo(row.store.idWords, row.r, words))
  }
  return compileStringTerm(term)
}

/** Business fields: values are strings; only integer fields compare as numbers. */
const compileStringTerm = (term: Term): Predicate => {
  const { field, op, value } = term
  const name = field.name
  const kind = field.kind._tag
  const get = (row: RowCursor) => row.value(name)
  switch (op) {
    case "=":
      return kind === "integer"
        ? (row) => get(row) !== "" && Number(get(row)) === Number(value)
        : (row) => get(row) === value
    case "!=":
      return kind === "integer" ? (row) => Number(get(row)) !== Number(value) : (row) => get(row) !== value
    case ">":
    case ">=":
    case "<":
    case "<=": {
      if (kind === "integer") {
        const lit = Number(value)
        return (row) => {
          const v = get(row)
          return v !== "" && ordering(op, Number(v) - lit)
        }
      }
      // The date-time wire format sorts lexicographically in time order, so strings suffice.
      return (row) => {
        const v = get(row)
        return v !== "" && ordering(op, v < value ? -1 : v > value ? 1 : 0)
      }
    }
    case "IN":
    case "NOT IN": {
      const set = new Set(value.split(","))
      return op === "IN" ? (row) => set.has(get(row)) : (row) => !set.has(get(row))
    }
    case "ISEMPTY":
      return (row) => get(row) === ""
    case "ISNOTEMPTY":
      return (row) => get(row) !== ""
    default: {
      // ServiceNow's text operators ignore case.
      const needle = value.toLowerCase()
      const test = op === "STARTSWITH"
        ? (v: string) => v.startsWith(needle)
        : op === "ENDSWITH"
        ? (v: string) => v.endsWith(needle)
        : (v: string) => v.includes(needle)
      return op === "NOT LIKE" ? (row) => !test(get(row).toLowerCase()) : (row) => test(get(row).toLowerCase())
    }
  }
}
