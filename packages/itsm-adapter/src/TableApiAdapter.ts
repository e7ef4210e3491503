/**
 * The ServiceNow Table API adapter: the engine's `Adapter` calls as Table API requests, each record
 * validated and transformed, bad ones returned as `InvalidRecord` values with their raw body.
 */
import type { HttpClient } from "@effect/platform"
import { type Adapter, type RateBudget, SourceError, SourceHttp } from "@tidemark/adapter-core"
import { Array as Arr, Chunk, Effect, Either, Option, Stream } from "effect"
import * as EncodedQuery from "./EncodedQuery.js"
import { itsmEntities, itsmManifest } from "./ItsmEntities.js"
import type { AnyTableEntity } from "./TableEntity.js"
import { parseDateTime } from "./TableField.js"

export const ADAPTER_NAME = "itsm"

export interface ItsmAdapterOptions extends Omit<SourceHttp.SourceHttpOptions, "adapter"> {
  /** Records per page for `fetchPage` when the request does not say; default 1,000. */
  readonly pageSize?: number
}

const DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/
const SYS_ID = /^[0-9a-f]{32}$/
/** The largest page ServiceNow serves (its default `glide.db.max_view_records` cap). */
export const MAX_PAGE_SIZE = 10_000
/** Keys per `sys_idIN` request: keeps the URL well under common 8 KB limits. */
const KEYS_PER_REQUEST = 150

const baseParams = {
  sysparm_exclude_reference_link: "true",
  sysparm_display_value: "false",
  sysparm_no_count: "true"
} as const

const byName: ReadonlyMap<string, AnyTableEntity> = new Map(itsmEntities.map((e) => [e.table, e]))

const entityOf = (name: string): Effect.Effect<AnyTableEntity> =>
  Option.match(Option.fromNullable(byName.get(name)), {
    onNone: () => Effect.dieMessage(`the ITSM adapter has no entity "${name}" (known: ${[...byName.keys()].join(", ")})`),
    onSome: Effect.succeed
  })

/** A position from a raw record, read leniently so that invalid records still move the keyset on. */
const positionOf = (raw: unknown): Option.Option<Adapter.Position> => {
  if (typeof raw !== "object" || raw === null) return Option.none()
  const record = raw as Record<string, unknown>
  const cursor = record.sys_updated_on
  const key = record.sys_id
  return typeof cursor === "string" && DATETIME.test(cursor) && typeof key === "string" && SYS_ID.test(key)
    ? Option.some({ cursor: parseDateTime(cursor), key })
    : Option.none()
}

export const make = (
  options: ItsmAdapterOptions
): Effect.Effect<Adapter.Adapter, never, HttpClient.HttpClient | RateBudget.RateBudgets> =>
  Effect.gen(function*() {
    const http = yield* SourceHttp.make({ ...options, adapter: ADAPTER_NAME })
    const defaultLimit = options.pageSize ?? 1000

    const resultOf = (response: SourceHttp.JsonResponse, path: string, entity: string) => {
      const body = response.body
      if (typeof body === "object" && body !== null && "result" in body && Array.isArray(body.result)) {
        return Effect.succeed(body.result as ReadonlyArray<unknown>)
      }
      return Effect.fail(
        new SourceError.SourceResponseError({
          adapter: ADAPTER_NAME,
          org: options.org,
          entity,
          method: "GET",
          url: path,
          reason: "the body has no `result` array",
          bodyExcerpt: JSON.stringify(body).slice(0, 500),
          attempts: 1
        })
      )
    }

    const query = (entity: AnyTableEntity, params: Record<string, string>) =>
      http.getJson(entity.endpoint, { ...baseParams, ...params }, entity.table).pipe(
        Effect.flatMap((response) => resultOf(response, entity.endpoint, entity.table))
      )

    const toPage = (
      entity: AnyTableEntity,
      result: ReadonlyArray<unknown>,
      hasMore: boolean
    ): Adapter.Page => {
      const records: Array<Adapter.SourceRecord> = []
      const invalid: Array<SourceError.InvalidRecord> = []
      for (const raw of result) {
        const decoded = entity.decodeRecord(raw)
        if (Either.isRight(decoded)) {
          const row = decoded.right
          records.push({ key: row.sys_id, cursor: row.sys_updated_on, row, raw })
        } else {
          invalid.push(decoded.left)
        }
      }
      // The page's position is its last record's, valid or not, so bad records never stall the keyset.
      let last = Option.none<Adapter.Position>()
      for (let i = result.length - 1; i >= 0 && Option.isNone(last); i--) last = positionOf(result[i])
      return { entity: entity.table, records, invalid, last, hasMore }
    }

    const fetchPage = (request: Adapter.PageRequest) =>
      Effect.gen(function*() {
        const entity = yield* entityOf(request.entity)
        // ServiceNow caps sysparm_limit (10,000 by default): asking for more would return fewer
        // records than asked, and `hasMore` would end the stream early.
        const limit = Math.min(request.limit > 0 ? request.limit : defaultLimit, MAX_PAGE_SIZE)
        const result = yield* query(entity, {
          sysparm_query: EncodedQuery.keysetAfter(request.after, request.lookback, request.until),
          sysparm_limit: String(limit)
        })
        return toPage(entity, result, result.length >= limit)
      })

    const fetchByKeys = (entityName: string, keys: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const entity = yield* entityOf(entityName)
        const chunks = Arr.chunksOf(Arr.dedupe(keys), KEYS_PER_REQUEST)
        const results = yield* Effect.forEach(chunks, (chunk) =>
          query(entity, { sysparm_query: EncodedQuery.keysIn(chunk), sysparm_limit: String(chunk.length) }))
        const page = toPage(entity, results.flat(), false)
        return { ...page, last: Option.none() }
      })

    const streamKeys = (entityName: string, pageSize = 10_000) =>
      Stream.unwrap(Effect.map(entityOf(entityName), (entity) =>
        Stream.paginateChunkEffect(Option.none<string>(), (afterKey) =>
          query(entity, {
            sysparm_query: EncodedQuery.keysAfter(afterKey),
            sysparm_fields: "sys_id,sys_updated_on",
            sysparm_limit: String(pageSize)
          }).pipe(Effect.map((result) => {
            const keys: Array<Adapter.KeyAndCursor> = []
            for (const raw of result) {
              const record = raw as Record<string, unknown>
              if (typeof record.sys_id !== "string") continue
              const cursor = typeof record.sys_updated_on === "string" && DATETIME.test(record.sys_updated_on)
                ? parseDateTime(record.sys_updated_on)
                : undefined
              keys.push({ key: record.sys_id, cursor })
            }
            const next = result.length >= pageSize && keys.length > 0
              ? Option.some(Option.some(keys[keys.length - 1]!.key))
              : Option.none()
            return [Chunk.unsafeFromArray(keys), next] as const
          })))))

    const auditTable = {
      table: "sys_audit_delete",
      endpoint: "/api/now/table/sys_audit_delete"
    }

    const deletionsSince = (entityName: string, since: Date) =>
      Stream.unwrap(Effect.map(entityOf(entityName), (entity) =>
        Stream.paginateChunkEffect(
          Option.none<{ readonly at: string; readonly id: string }>(),
          (after) =>
            http.getJson(auditTable.endpoint, {
              ...baseParams,
              sysparm_query: EncodedQuery.deletionsAfter(entity.table, since, after),
              sysparm_fields: "sys_id,documentkey,sys_created_on,tablename",
              sysparm_limit: "1000"
            }, entity.table).pipe(
              Effect.flatMap((response) => resultOf(response, auditTable.endpoint, entity.table)),
              Effect.map((result) => {
                const deletions: Array<Adapter.Deletion> = []
                let last = Option.none<{ readonly at: string; readonly id: string }>()
                for (const raw of result) {
                  const row = raw as Record<string, unknown>
                  const at = row.sys_created_on
                  const id = row.sys_id
                  const key = row.documentkey
                  if (typeof at !== "string" || !DATETIME.test(at) || typeof id !== "string") continue
                  last = Option.some({ at, id })
                  if (typeof key === "string" && key !== "") {
                    deletions.push({ entity: entity.table, key, deletedAt: parseDateTime(at) })
                  }
                }
                const next = result.length >= 1000 && Option.isSome(last) ? Option.some(last) : Option.none()
                return [Chunk.unsafeFromArray(deletions), next] as const
              })
            )
        )))

    /** The cursor of the first record of a result, if it has a valid one. */
    const cursorOf = (result: ReadonlyArray<unknown>): Option.Option<Date> => {
      const value = (result[0] as Record<string, unknown> | undefined)?.sys_updated_on
      return typeof value === "string" && DATETIME.test(value) ? Option.some(parseDateTime(value)) : Option.none()
    }

    const firstCursor = (entityName: string, order: string) =>
      Effect.flatMap(entityOf(entityName), (entity) =>
        query(entity, { sysparm_query: order, sysparm_fields: "sys_updated_on", sysparm_limit: "1" }).pipe(
          Effect.map(cursorOf)
        ))
    const highWater = (entityName: string) => firstCursor(entityName, EncodedQuery.newestFirst)
    const lowWater = (entityName: string) => firstCursor(entityName, EncodedQuery.oldestFirst)

    // The one request that asks ServiceNow to count (`X-Total-Count`): counting costs it a scan, so
    // pages never do.
    const lowWaterAndCount = (entityName: string) =>
      Effect.gen(function*() {
        const entity = yield* entityOf(entityName)
        const response = yield* http.getJson(entity.endpoint, {
          ...baseParams,
          sysparm_no_count: "false",
          sysparm_query: EncodedQuery.oldestFirst,
          sysparm_fields: "sys_updated_on",
          sysparm_limit: "1"
        }, entity.table)
        const result = yield* resultOf(response, entity.endpoint, entity.table)
        const total = Number(response.headers["x-total-count"] ?? Number.NaN)
        return {
          lowWater: cursorOf(result),
          count: Number.isInteger(total) && total >= 0 ? Option.some(total) : Option.none<number>()
        }
      })

    const cursorsAt = (entityName: string, offsets: ReadonlyArray<number>) =>
      Effect.flatMap(entityOf(entityName), (entity) =>
        Effect.forEach(offsets, (offset) =>
          query(entity, {
            sysparm_query: EncodedQuery.oldestFirst,
            sysparm_fields: "sys_updated_on",
            sysparm_limit: "1",
            sysparm_offset: String(offset)
          }).pipe(Effect.map(cursorOf)), { concurrency: "unbounded" }))

    const adapter: Adapter.Adapter = {
      name: ADAPTER_NAME,
      org: options.org,
      manifest: itsmManifest,
      // `sys_updated_on` has whole seconds.
      cursorResolutionMillis: 1000,
      fetchPage,
      streamKeys,
      fetchByKeys,
      deletionsSince,
      highWater,
      lowWater,
      lowWaterAndCount,
      cursorsAt
    }
    return adapter
  })
