/**
 * Query parameters shared by the list endpoints, and the opaque keyset cursor. Lists are newest
 * first by `(sys_updated_on, key)`; the cursor is the base64url of the last item's pair, so a page
 * never skips or repeats a record however many share one timestamp.
 */
import { Effect, Either, Schema } from "effect"
import { InvalidRequest } from "./ApiErrors.js"

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 200

export const Limit = Schema.NumberFromString.pipe(
  Schema.int({ message: () => "limit must be a whole number" }),
  Schema.between(1, MAX_LIMIT, { message: () => `limit must be between 1 and ${MAX_LIMIT}` })
).annotations({ description: `Items per page, 1-${MAX_LIMIT}; default ${DEFAULT_LIMIT}` })

export const Cursor = Schema.String.annotations({ description: "Opaque: the nextCursor of the previous page" })

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/

/**
 * An ISO 8601 date (UTC midnight) or date-time with a zone. A date-time without a zone is refused:
 * JavaScript would read it in the server's local time, silently.
 */
export const IsoDateTime = Schema.String.pipe(
  Schema.filter((s) => ISO_DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)), {
    message: (issue) =>
      "expected an ISO 8601 date or date-time with a zone (e.g. 2026-06-01T12:00:00Z), " +
      `got ${JSON.stringify(issue.actual)}`
  }),
  Schema.compose(Schema.Date, { strict: false })
).annotations({ jsonSchema: { type: "string", format: "date-time" } })

export const SysId = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{32}$/, {
    message: (issue) => `expected a 32-hex sys_id, got ${JSON.stringify(issue.actual)}`
  })
)

export const IntFromString = Schema.NumberFromString.pipe(
  Schema.int({ message: (issue) => `expected a whole number, got ${JSON.stringify(issue.actual)}` })
)

export const BooleanFromString = Schema.Literal("true", "false").pipe(
  Schema.transform(Schema.Boolean, { strict: true, decode: (s) => s === "true", encode: (b) => (b ? "true" : "false") })
)

export interface Position {
  readonly updatedOn: Date
  readonly key: string
}

const CursorJson = Schema.parseJson(Schema.Tuple(Schema.String, Schema.String))

export const encodeCursor = (position: Position): string =>
  Buffer.from(JSON.stringify([position.updatedOn.toISOString(), position.key])).toString("base64url")

/** The position a cursor stands for; `InvalidRequest` naming `cursor` when it is not one of ours. */
export const decodeCursor = (cursor: string): Effect.Effect<Position, InvalidRequest> => {
  const invalid = new InvalidRequest({ field: "cursor", message: "cursor is not a nextCursor of this list" })
  const decoded = Schema.decodeUnknownEither(CursorJson)(Buffer.from(cursor, "base64url").toString("utf8"))
  if (Either.isLeft(decoded)) return Effect.fail(invalid)
  const [iso, key] = decoded.right
  const updatedOn = new Date(iso)
  return Number.isNaN(updatedOn.getTime()) ? Effect.fail(invalid) : Effect.succeed({ updatedOn, key })
}

/** `items` is `limit + 1` rows: the extra one only says whether there is a next page. */
export const toPage = <Row, Item>(
  rows: ReadonlyArray<Row>,
  limit: number,
  positionOf: (row: Row) => Position | null,
  toItem: (row: Row) => Item
): { readonly items: ReadonlyArray<Item>; readonly nextCursor: string | null } => {
  const pageRows = rows.slice(0, limit)
  const last = pageRows.at(-1)
  const position = rows.length > limit && last !== undefined ? positionOf(last) : null
  return { items: pageRows.map(toItem), nextCursor: position === null ? null : encodeCursor(position) }
}
