/**
 * One cache table per entity, its typed columns derived from the entity's row schema: what dashboards
 * query is a column, and the whole source record is kept as `raw` beside them.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import type { EntityDefinition, Manifest } from "@tidemark/adapter-core"
import { EntityDefinition as Entities, Reference } from "@tidemark/adapter-core"
import { Effect, Option, Schema, SchemaAST } from "effect"
import { createHash } from "node:crypto"
import { CacheDdlLock, LockSpace } from "./Migrations.js"
import { reasonOf } from "./internal/errorReason.js"

export type SqlType = "text" | "bigint" | "double precision" | "numeric" | "boolean" | "timestamptz" | "jsonb"

export interface CacheColumn {
  /** Column name in SQL (the field name, unless it collides with a column of the engine's own). */
  readonly name: string
  /** The row-schema field it holds. */
  readonly field: string
  readonly sqlType: SqlType
  readonly nullable: boolean
  readonly reference: Option.Option<Reference.ReferenceSpec>
}

export interface CacheTable {
  readonly name: string
  readonly adapter: string
  readonly entity: string
  readonly keyField: string
  readonly cursorField: Option.Option<string>
  /** The typed columns, in field order; the engine's own columns are not listed. */
  readonly columns: ReadonlyArray<CacheColumn>
}

/** Columns every cache table has; a row field of one of these names gets a `field_` prefix. */
export const engineColumns = ["org_id", "key", "raw", "source_updated_at", "synced_at", "deleted_at"] as const

const MAX_IDENTIFIER = 63

/**
 * Postgres silently truncates identifiers past 63 bytes, which could make two long names one; a long
 * name keeps a readable prefix and gains a hash of the whole.
 */
export const shortenIdentifier = (name: string): string =>
  Buffer.byteLength(name) <= MAX_IDENTIFIER
    ? name
    : `${name.slice(0, 50)}_${createHash("sha1").update(name).digest("hex").slice(0, 12)}`

const sanitize = (part: string) => part.toLowerCase().replace(/[^a-z0-9_]/g, "_")

/** `cache_<adapter>_<entity>`, lowercased, other characters as `_`, at most 63 bytes. */
export const tableName = (adapter: string, entity: string): string =>
  shortenIdentifier(`cache_${sanitize(adapter)}_${sanitize(entity)}`)

interface Kind {
  readonly sqlType: SqlType
  readonly nullable: boolean
}

const hasSchemaId = (ast: SchemaAST.AST, id: symbol) =>
  Option.exists(SchemaAST.getSchemaIdAnnotation(ast), (schemaId) => schemaId === id)

const isNullish = (ast: SchemaAST.AST) =>
  (ast._tag === "Literal" && ast.literal === null) || ast._tag === "UndefinedKeyword" || ast._tag === "VoidKeyword"

const literalType = (literal: SchemaAST.LiteralValue): SqlType => {
  switch (typeof literal) {
    case "string":
      return "text"
    case "number":
      return "double precision"
    case "boolean":
      return "boolean"
    case "bigint":
      return "numeric"
    default:
      return "jsonb"
  }
}

/** The column type of a field's type-side AST; what no column type fits is kept as `jsonb`. */
const kindOf = (ast: SchemaAST.AST): Kind => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return { sqlType: "text", nullable: false }
    case "NumberKeyword":
      return { sqlType: "double precision", nullable: false }
    case "BooleanKeyword":
      return { sqlType: "boolean", nullable: false }
    case "BigIntKeyword":
      return { sqlType: "numeric", nullable: false }
    case "Literal":
      return { sqlType: literalType(ast.literal), nullable: ast.literal === null }
    case "Enums": {
      const types = new Set(ast.enums.map(([, value]) => literalType(value)))
      return { sqlType: types.size === 1 ? [...types][0]! : "jsonb", nullable: false }
    }
    case "Refinement":
      return hasSchemaId(ast, Schema.IntSchemaId) ? { sqlType: "bigint", nullable: false } : kindOf(ast.from)
    case "Declaration":
      return hasSchemaId(ast, Schema.DateFromSelfSchemaId)
        ? { sqlType: "timestamptz", nullable: false }
        : { sqlType: "jsonb", nullable: false }
    case "Union": {
      const members = ast.types.filter((member) => !isNullish(member))
      const nullable = members.length < ast.types.length
      const kinds = members.map(kindOf)
      const types = new Set(kinds.map((kind) => kind.sqlType))
      return {
        sqlType: types.size === 1 ? [...types][0]! : "jsonb",
        nullable: nullable || kinds.some((kind) => kind.nullable)
      }
    }
    case "TupleType":
    case "TypeLiteral":
      return { sqlType: "jsonb", nullable: false }
    default:
      // unknown, any, suspended or undeclared types: nothing says a value is always there.
      return { sqlType: "jsonb", nullable: true }
  }
}

/** The cache table of an entity: its name and typed columns, derived from the row schema. */
export const describe = (adapter: string, entity: EntityDefinition.AnyEntityDefinition): CacheTable => {
  const references = new Map(Entities.references(entity).map((ref) => [ref.field, ref]))
  const reserved = new Set<string>(engineColumns)
  const columns = Reference.propertySignatures(entity.rowSchema.ast).flatMap((ps): Array<CacheColumn> => {
    const field = String(ps.name)
    if (field === entity.key) return []
    const kind = kindOf(SchemaAST.typeAST(ps.type))
    const ref = references.get(field)
    return [{
      name: shortenIdentifier(reserved.has(field) ? `field_${field}` : field),
      field,
      sqlType: kind.sqlType,
      nullable: kind.nullable || ps.isOptional,
      reference: ref === undefined ? Option.none() : Option.some({ target: ref.target, kind: ref.kind })
    }]
  })
  return {
    name: tableName(adapter, entity.name),
    adapter,
    entity: entity.name,
    keyField: entity.key,
    cursorField: Option.fromNullable(entity.cursor),
    columns
  }
}

export const cursorIndexName = (table: string) => shortenIdentifier(`${table}_cursor_idx`)
export const referenceIndexName = (table: string, column: string) => shortenIdentifier(`${table}_${column}_ref_idx`)

const informationSchemaType: Record<SqlType, string> = {
  text: "text",
  bigint: "bigint",
  "double precision": "double precision",
  numeric: "numeric",
  boolean: "boolean",
  timestamptz: "timestamp with time zone",
  jsonb: "jsonb"
}

/** Creates the cache table of one entity, or adds the columns and indexes it lacks. */
const ensureTable = (sql: SqlClient.SqlClient, table: CacheTable) =>
  Effect.gen(function*() {
    const columnDefinition = (column: CacheColumn, enforceNotNull: boolean) =>
      sql`${sql(column.name)} ${sql.literal(column.sqlType)}${
        sql.literal(column.nullable || !enforceNotNull ? " NULL" : " NOT NULL")
      }`
    const existing = yield* sql<{ column_name: string; data_type: string }>`
      SELECT column_name, data_type FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ${table.name}`
    if (existing.length === 0) {
      yield* sql`CREATE TABLE ${sql(table.name)} (
        org_id text NOT NULL,
        key text NOT NULL,
        ${sql.csv(table.columns.map((column) => columnDefinition(column, true)))}${
        sql.literal(table.columns.length > 0 ? "," : "")
      }
        raw jsonb NOT NULL,
        source_updated_at timestamptz NULL,
        synced_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz NULL,
        PRIMARY KEY (org_id, key)
      )`
    } else {
      const have = new Map(existing.map((row) => [row.column_name, row.data_type]))
      const missing = table.columns.filter((column) => !have.has(column.name))
      const retyped = table.columns.filter((column) => {
        const type = have.get(column.name)
        return type !== undefined && type !== informationSchemaType[column.sqlType]
      })
      if (retyped.length > 0) {
        // Converting a column in place could fail half way on data already stored: an operator's call.
        yield* Effect.logWarning("cache table columns differ in type from the row schema; left as they are").pipe(
          Effect.annotateLogs({
            table: table.name,
            columns: retyped.map((column) => `${column.name}: ${have.get(column.name)} (schema: ${column.sqlType})`).join(", ")
          })
        )
      }
      if (missing.length > 0) {
        // Rows already stored have no value for a new field until they are synced again, so a
        // column added later is nullable whatever the schema says.
        yield* sql`ALTER TABLE ${sql(table.name)} ${
          sql.csv(missing.map((column) => sql`ADD COLUMN IF NOT EXISTS ${columnDefinition(column, false)}`))
        }`
        yield* Effect.logInfo("cache table columns added").pipe(
          Effect.annotateLogs({ table: table.name, columns: missing.map((column) => column.name).join(", ") })
        )
      }
    }
    // Checked before creating: CREATE INDEX takes a lock that blocks writers even when the index exists.
    const indexes = new Set(
      (yield* sql<{ indexname: string }>`
        SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ${table.name}`)
        .map((row) => row.indexname)
    )
    const wanted = [
      { name: cursorIndexName(table.name), columns: ["org_id", "source_updated_at"] },
      ...table.columns.filter((column) => Option.isSome(column.reference)).map((column) => ({
        name: referenceIndexName(table.name, column.name),
        columns: ["org_id", column.name]
      }))
    ]
    for (const index of wanted) {
      if (indexes.has(index.name)) continue
      yield* sql`CREATE INDEX IF NOT EXISTS ${sql(index.name)} ON ${sql(table.name)} (${
        sql.csv(index.columns.map((column) => sql`${sql(column)}`))
      })`
    }
  })

export class CacheTableError extends Schema.TaggedError<CacheTableError>()("CacheTableError", {
  adapter: Schema.String,
  entity: Schema.String,
  table: Schema.String,
  cause: Schema.Defect
}) {
  override get message() {
    const reason = reasonOf(this.cause)
    return `cannot create or update cache table ${this.table} of ${this.adapter}/${this.entity}: ${reason}`
  }
}

/**
 * Creates every cache table of a manifest, or adds the columns and indexes a newer schema declares.
 * Idempotent and safe from several processes at once (one advisory lock around all cache DDL); a
 * column whose type changed in the schema is left as it is. Returns the tables by entity name.
 */
export const ensure = (
  adapter: string,
  manifest: Manifest.EntityManifest
): Effect.Effect<ReadonlyMap<string, CacheTable>, CacheTableError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables = new Map(manifest.entities.map((entity) => [entity.name, describe(adapter, entity)]))
    for (const table of tables.values()) {
      yield* sql.withTransaction(
        Effect.zipRight(sql`SELECT pg_advisory_xact_lock(${LockSpace}, ${CacheDdlLock})`, ensureTable(sql, table))
      ).pipe(
        Effect.mapError((cause: SqlError) =>
          new CacheTableError({ adapter, entity: table.entity, table: table.name, cause })
        )
      )
    }
    return tables
  }).pipe(Effect.withSpan("CacheTables.ensure", { attributes: { adapter } }))

// ---------------------------------------------------------------------------------------------------
// Binding rows as statement parameters: one array per column, so a page is one set-based statement.

/** Postgres text and jsonb refuse NUL characters; one in a source record would fail its page forever. */
const cleanText = (value: string): string =>
  value.includes("\u0000") ? value.replaceAll("\u0000", "\uFFFD") : value

const ESCAPED_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g

const cleanJson = (json: string): string => (json.includes("\\u0000") ? json.replace(ESCAPED_NUL, "$1\\ufffd") : json)

const bigintReplacer = (_key: string, value: unknown) => (typeof value === "bigint" ? value.toString() : value)

/** JSON text of any value: BigInts (which `JSON.stringify` throws on) become strings, NULs U+FFFD. */
export const jsonText = (value: unknown): string => {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch {
    // The replacer costs a function call per value, so it is only paid by values that need it.
    json = JSON.stringify(value, bigintReplacer)
  }
  return cleanJson(json ?? "null")
}

const toText = (value: unknown) => (value == null ? null : cleanText(typeof value === "string" ? value : String(value)))
const toNumeric = (value: unknown) => (value == null ? null : typeof value === "bigint" ? value.toString() : value)
const toTimestamp = (value: unknown) =>
  value == null ? null : value instanceof Date ? (Number.isNaN(value.getTime()) ? null : value.toISOString()) : String(value)
const toJson = (value: unknown) => (value === undefined || value === null ? null : jsonText(value))

const converters: Record<SqlType, (value: unknown) => unknown> = {
  text: toText,
  bigint: toNumeric,
  "double precision": toNumeric,
  numeric: toNumeric,
  boolean: (value) => (value == null ? null : value),
  timestamptz: toTimestamp,
  jsonb: toJson
}

export interface BoundRecord {
  readonly key: string
  readonly cursor: Date | undefined
  readonly row: Record<string, unknown>
  readonly raw: unknown
}

export interface BoundRows {
  readonly keys: ReadonlyArray<string>
  /** One array per typed column, in `table.columns` order, values ready for `$n::<type>[]`. */
  readonly columns: ReadonlyArray<ReadonlyArray<unknown>>
  /** ISO strings (explicit UTC, whatever the driver's date settings). */
  readonly cursors: ReadonlyArray<string | null>
  /**
   * All raw records as one JSON array, read back with `jsonb_array_elements`: measured about 1.5×
   * faster than a `jsonb[]` parameter, whose array-literal escaping doubles every quote.
   */
  readonly raws: string
}

/** The parameters of a set-based statement over `records`, column by column. */
export const bind = (table: CacheTable, records: ReadonlyArray<BoundRecord>): BoundRows => ({
  keys: records.map((record) => record.key),
  columns: table.columns.map((column) => {
    const convert = converters[column.sqlType]
    const field = column.field
    return records.map((record) => convert(record.row[field]))
  }),
  cursors: records.map((record) => toTimestamp(record.cursor) as string | null),
  raws: jsonText(records.map((record) => record.raw ?? null))
})
