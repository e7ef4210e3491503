import { Either } from "effect"
import { badRequest, type SimulatorRequestError } from "./Errors.js"
import type { TableFields } from "./tables/Catalog.js"
import type { FieldSpec } from "./tables/TableSpec.js"
import { parseDateTime } from "./Time.js"

/**
 * The subset of ServiceNow's encoded query language the adapter uses. `a^b` is AND, `a^ORb`
 * ORs b with the term before it, `a^NQb` starts a new AND-group (the groups are ORed), and
 * `ORDERBY<field>` / `ORDERBYDESC<field>` terms order the whole result wherever they appear.
 */
export type Operator =
  | "="
  | "!="
  | ">"
  | ">="
  | "<"
  | "<="
  | "IN"
  | "NOT IN"
  | "ISEMPTY"
  | "ISNOTEMPTY"
  | "STARTSWITH"
  | "ENDSWITH"
  | "LIKE"
  | "NOT LIKE"

/** Longest first, so `>=` is not read as `>` followed by a value starting with `=`. */
const OPERATORS: ReadonlyArray<Operator> = [
  "ISNOTEMPTY",
  "ISEMPTY",
  "STARTSWITH",
  "ENDSWITH",
  "NOT LIKE",
  "NOT IN",
  "LIKE",
  "IN",
  "!=",
  ">=",
  "<=",
  "=",
  ">",
  "<"
]

const COMPARISONS: ReadonlySet<Operator> = new Set(["=", "!=", ">", ">=", "<", "<="])

export interface Term {
  readonly field: FieldSpec
  readonly op: Operator
  readonly value: string
  /** The term as written, for error messages. */
  readonly text: string
}

/** Terms ORed together. */
export type Clause = ReadonlyArray<Term>
/** Clauses ANDed together. */
export type Group = ReadonlyArray<Clause>

export interface OrderBy {
  readonly field: FieldSpec
  readonly descending: boolean
}

export interface EncodedQuery {
  /** ORed together; no groups means every record matches. */
  readonly groups: ReadonlyArray<Group>
  readonly orderBy: ReadonlyArray<OrderBy>
}

const FIELD = /^[a-z_][a-z0-9_]*/

const invalid = (term: string, reason: string): SimulatorRequestError =>
  badRequest(`Invalid query term '${term}': ${reason}`, `sysparm_query could not be parsed at '${term}'`)

export const parse = (
  query: string,
  table: string,
  fields: TableFields
): Either.Either<EncodedQuery, SimulatorRequestError> => {
  const groups: Array<Array<Array<Term>>> = []
  const orderBy: Array<OrderBy> = []
  let group: Array<Array<Term>> = []
  const field = (name: string, term: string): FieldSpec | SimulatorRequestError =>
    fields.byName.get(name) ?? invalid(term, `unknown field '${name}' for table ${table}`)

  for (const raw of query.split("^")) {
    // ServiceNow tolerates empty terms and ends some generated queries with `^EQ`.
    if (raw === "" || raw === "EQ") continue
    if (raw.startsWith("ORDERBY")) {
      const descending = raw.startsWith("ORDERBYDESC")
      const name = raw.slice(descending ? 11 : 7)
      if (name === "") return Either.left(invalid(raw, "ORDERBY needs a field"))
      const spec = field(name, raw)
      if (!("kind" in spec)) return Either.left(spec)
      orderBy.push({ field: spec, descending })
      continue
    }
    let text = raw
    let mode: "and" | "or" | "new" = "and"
    if (raw.startsWith("NQ")) {
      mode = "new"
      text = raw.slice(2)
    } else if (raw.startsWith("OR")) {
      mode = "or"
      text = raw.slice(2)
    }
    const term = parseTerm(text, raw, field)
    if (Either.isLeft(term)) return Either.left(term.left)
    if (mode === "new") {
      if (group.length > 0) groups.push(group)
      group = [[term.right]]
    } else if (mode === "or") {
      const last = group[group.length - 1]
      if (last === undefined) return Either.left(invalid(raw, "OR without a term before it"))
      last.push(term.right)
    } else group.push([term.right])
  }
  if (group.length > 0) groups.push(group)
  return Either.right({ groups, orderBy })
}

const parseTerm = (
  text: string,
  raw: string,
  field: (name: string, term: string) => FieldSpec | SimulatorRequestError
): Either.Either<Term, SimulatorRequestError> => {
  const name = FIELD.exec(text)?.[0]
  if (name === undefined) return Either.left(invalid(raw, "expected a field name"))
  const rest = text.slice(name.length)
  if (rest.startsWith(".")) return Either.left(invalid(raw, `dot-walking (${name}.…) is not supported`))
  const op = OPERATORS.find((candidate) => rest.startsWith(candidate))
  if (op === undefined) {
    return Either.left(invalid(raw, rest === "" ? "missing operator" : `unknown operator at '${rest}'`))
  }
  const spec = field(name, raw)
  if (!("kind" in spec)) return Either.left(spec)
  const value = rest.slice(op.length)
  if ((op === "ISEMPTY" || op === "ISNOTEMPTY") && value !== "") {
    return Either.left(invalid(raw, `${op} takes no value`))
  }
  const literals = op === "IN" || op === "NOT IN" ? value.split(",") : COMPARISONS.has(op) ? [value] : []
  for (const literal of literals) {
    if (spec.kind._tag === "datetime" && literal !== "" && parseDateTime(literal) === undefined) {
      return Either.left(invalid(raw, `'${literal}' is not a date-time (expected YYYY-MM-DD HH:mm:ss)`))
    }
    if (spec.kind._tag === "integer" && op !== "=" && op !== "!=" && !/^-?\d+$/.test(literal)) {
      return Either.left(invalid(raw, `'${literal}' is not an integer`))
    }
  }
  return Either.right({ field: spec, op, value, text: raw })
}
