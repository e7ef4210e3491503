/**
 * A ServiceNow table as an entity definition, derived from one list of fields: the API schema, the
 * row schema with its reference annotations, and the transform all come from it.
 */
import { EntityDefinition, SourceError } from "@tidemark/adapter-core"
import { Either, ParseResult, Schema } from "effect"
import * as Field from "./TableField.js"

type AnyField = Field.TableField<any> // `any`: fields of different row types live in one record

export type Fields = Readonly<Record<string, AnyField>>

/** Fields every ServiceNow table has. */
export const systemFields = {
  sys_id: Field.sysId,
  sys_created_on: Field.requiredDateTime,
  sys_updated_on: Field.requiredDateTime,
  sys_mod_count: Field.integer,
  sys_created_by: Field.text,
  sys_updated_by: Field.text
} as const

type SystemFields = typeof systemFields

export type RowOf<F extends Fields> = { readonly [K in keyof F]: F[K] extends Field.TableField<infer R> ? R : never }
export type ApiOf<F extends Fields> = { readonly [K in keyof F]: string }

export interface TableEntity<F extends Fields> extends EntityDefinition.EntityDefinition<ApiOf<F>, RowOf<F>> {
  readonly table: string
  readonly fields: F
  /** Validate and transform one raw record: the row, or an `InvalidRecord` carrying the raw body. */
  readonly decodeRecord: (raw: unknown) => Either.Either<RowOf<F>, SourceError.InvalidRecord>
}

/** Any table entity, seen through what every table shares (the system fields). */
export interface AnyTableEntity {
  readonly table: string
  readonly endpoint: string
  readonly decodeRecord: (raw: unknown) => Either.Either<RowOf<SystemFields>, SourceError.InvalidRecord>
}

const mapFields = <F extends Fields, B>(fields: F, f: (field: AnyField) => B): { [K in keyof F]: B } =>
  Object.fromEntries(Object.entries(fields).map(([name, field]) => [name, f(field)])) as { [K in keyof F]: B }

/**
 * A row builder with one object literal of fixed shape, compiled once per table: rows built key by
 * key on an empty object go through V8's dictionary transitions and made validation plus transform
 * cost as much as the HTTP exchange itself. Field names come from our own field lists, never from
 * the source, and are embedded as JSON string literals.
 */
const compileRowBuilder = (
  names: ReadonlyArray<string>,
  parses: ReadonlyArray<(value: string) => unknown>
): (record: Record<string, string>) => Record<string, unknown> => {
  const body = names.map((name, i) => `${JSON.stringify(name)}: parses[${i}](record[${JSON.stringify(name)}])`)
  // eslint-disable-next-line no-new-func
  const factory = new Function("parses", `return (record) => ({ ${body.join(", ")} })`) as (
    parses: ReadonlyArray<(value: string) => unknown>
  ) => (record: Record<string, string>) => Record<string, unknown>
  return factory(parses)
}

/** The fast checks of all fields as one compiled expression, for the same reason as the row builder. */
const compileChecker = (
  names: ReadonlyArray<string>,
  checks: ReadonlyArray<(value: unknown) => boolean>
): (record: Record<string, unknown>) => boolean => {
  const body = names.map((name, i) => `checks[${i}](record[${JSON.stringify(name)}])`)
  // eslint-disable-next-line no-new-func
  const factory = new Function("checks", `return (record) => ${body.join(" && ")}`) as (
    checks: ReadonlyArray<(value: unknown) => boolean>
  ) => (record: Record<string, unknown>) => boolean
  return factory(checks)
}

export const make = <const F extends Fields>(options: {
  readonly table: string
  readonly fields: F
}): TableEntity<SystemFields & F> => {
  const fields = { ...systemFields, ...options.fields } as SystemFields & F
  type All = SystemFields & F
  const apiSchema = Schema.Struct(mapFields(fields, (field) => field.api)) as unknown as Schema.Schema<ApiOf<All>>
  const rowSchema = Schema.Struct(mapFields(fields, (field) => field.row)) as unknown as Schema.Schema<RowOf<All>>
  const entries = Object.entries(fields)
  const names = entries.map(([name]) => name)
  const checks = entries.map(([, field]) => field.check)
  const parses = entries.map(([, field]) => field.parse)
  const validateBySchema = Schema.decodeUnknownEither(apiSchema, { errors: "all" })

  const buildRow = compileRowBuilder(names, parses)
  const checkRecord = compileChecker(names, checks)
  const transform = (record: ApiOf<All>): Either.Either<RowOf<All>, string> =>
    Either.right(buildRow(record as Record<string, string>) as RowOf<All>)

  const invalid = (raw: unknown, reason: string) =>
    new SourceError.InvalidRecord({
      entity: options.table,
      key: typeof raw === "object" && raw !== null && "sys_id" in raw && typeof raw.sys_id === "string"
        ? raw.sys_id
        : null,
      reason,
      raw
    })

  const decodeRecord = (raw: unknown): Either.Either<RowOf<All>, SourceError.InvalidRecord> => {
    if (typeof raw === "object" && raw !== null) {
      const record = raw as Record<string, unknown>
      if (checkRecord(record)) return Either.mapLeft(transform(record as ApiOf<All>), (reason) => invalid(raw, reason))
    }
    // The slow path only runs for records that failed the fast checks: it explains what is wrong.
    return Either.match(validateBySchema(raw), {
      onLeft: (error) => Either.left(invalid(raw, ParseResult.TreeFormatter.formatErrorSync(error))),
      onRight: (record) => Either.mapLeft(transform(record), (reason) => invalid(raw, reason))
    })
  }

  return {
    name: options.table,
    table: options.table,
    endpoint: `/api/now/table/${options.table}`,
    fields,
    apiSchema,
    rowSchema,
    transform,
    key: "sys_id",
    cursor: "sys_updated_on",
    deletions: { auditFeed: true, reconciliation: true },
    decodeRecord
  }
}
