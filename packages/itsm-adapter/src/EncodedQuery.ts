/**
 * The encoded queries the adapter sends. Pagination is keyset on (sys_updated_on, sys_id): offsets
 * skip or repeat rows while the table changes under the reader, keysets do not.
 */
import type { Adapter } from "@tidemark/adapter-core"
import { Duration, Option } from "effect"
import { formatDateTime } from "./TableField.js"

const ORDER_BY_CURSOR = "ORDERBYsys_updated_on^ORDERBYsys_id"

/**
 * Records strictly after `after` in (sys_updated_on, sys_id) order. Ties on sys_updated_on are
 * common (whole seconds), so the tie is broken on sys_id in a second query group (`^NQ`). With a
 * lookback the position steps back and drops its key: every record at or after that time.
 */
export const keysetAfter = (
  after: Option.Option<Adapter.Position>,
  lookback?: Duration.DurationInput,
  until?: Date
): string => {
  // `^NQ` starts a whole new AND-group, so the upper bound is repeated in each group.
  const bound = until === undefined ? "" : `^sys_updated_on<=${formatDateTime(until)}`
  if (Option.isNone(after)) return until === undefined ? ORDER_BY_CURSOR : `${bound.slice(1)}^${ORDER_BY_CURSOR}`
  if (lookback !== undefined) {
    const from = new Date(after.value.cursor.getTime() - Duration.toMillis(Duration.decode(lookback)))
    return `sys_updated_on>=${formatDateTime(from)}${bound}^${ORDER_BY_CURSOR}`
  }
  const at = formatDateTime(after.value.cursor)
  // An empty key sorts before every key: "after (t, '')" is every record at t or later.
  if (after.value.key === "") return `sys_updated_on>=${at}${bound}^${ORDER_BY_CURSOR}`
  return `sys_updated_on>${at}${bound}^NQsys_updated_on=${at}^sys_id>${after.value.key}${bound}^${ORDER_BY_CURSOR}`
}

/** Keys in key order, after `afterKey`: for listing every key of a table. */
export const keysAfter = (afterKey: Option.Option<string>): string =>
  Option.match(afterKey, { onNone: () => "ORDERBYsys_id", onSome: (key) => `sys_id>${key}^ORDERBYsys_id` })

/** The records with these sys_ids (ServiceNow has no batch-get; `IN` on sys_id is the idiom). */
export const keysIn = (keys: ReadonlyArray<string>): string => `sys_idIN${keys.join(",")}`

/** Audit rows of deletions from `table`, at or after `since`, in (sys_created_on, sys_id) order. */
export const deletionsAfter = (
  table: string,
  since: Date,
  after: Option.Option<{ readonly at: string; readonly id: string }>
): string => {
  const order = "ORDERBYsys_created_on^ORDERBYsys_id"
  if (Option.isNone(after)) return `tablename=${table}^sys_created_on>=${formatDateTime(since)}^${order}`
  const { at, id } = after.value
  return `tablename=${table}^sys_created_on>${at}^NQtablename=${table}^sys_created_on=${at}^sys_id>${id}^${order}`
}

/** The newest record first: for the high-water mark. */
export const newestFirst = "ORDERBYDESCsys_updated_on^ORDERBYDESCsys_id"

/** The oldest record first: for the low-water mark. */
export const oldestFirst = ORDER_BY_CURSOR
