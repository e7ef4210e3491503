/**
 * The worked example of docs/adapters.md, kept here so that the doc's code compiles and does what the
 * doc says: a small CRM's entities, their manifest and graph, and an adapter over its REST API. The
 * code between the `doc:` markers is the code of the doc, character for character.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Array as Arr, Chunk, Duration, Effect, Either, Layer, Option, ParseResult, Schema, Stream } from "effect"
import {
  type Adapter,
  DependencyGraph,
  EntityDefinition,
  Manifest,
  RateBudget,
  Reference,
  SourceError,
  SourceHttp
} from "../src/index.js"

// doc: entities
/** How the CRM sends a reference: the target's id in an object, or null. */
const ApiRef = Schema.Struct({ id: Schema.String })
const idOf = (ref: { readonly id: string } | null): string | null => (ref === null ? null : ref.id)

export const owner = EntityDefinition.make({
  name: "owner",
  endpoint: "/v1/users",
  apiSchema: Schema.Struct({
    id: Schema.String,
    email: Schema.String,
    name: Schema.String,
    active: Schema.Boolean,
    manager: Schema.NullOr(ApiRef),
    updated_at: Schema.Date
  }),
  rowSchema: Schema.Struct({
    id: Schema.String,
    email: Schema.String,
    name: Schema.String,
    active: Schema.Boolean,
    // Not annotated: an entity cannot be ordered before itself, so the edge would only be dropped.
    manager_id: Schema.NullOr(Schema.String),
    updated_at: Schema.DateFromSelf
  }),
  transform: (user) =>
    Either.right({
      id: user.id,
      email: user.email,
      name: user.name,
      active: user.active,
      manager_id: idOf(user.manager),
      updated_at: user.updated_at
    }),
  key: "id",
  cursor: "updated_at",
  // Users are deactivated, never deleted: only reconciliation notices one that disappears.
  deletions: { auditFeed: false, reconciliation: true }
})

export const account = EntityDefinition.make({
  name: "account",
  endpoint: "/v1/accounts",
  apiSchema: Schema.Struct({
    id: Schema.String,
    name: Schema.String,
    domain: Schema.NullOr(Schema.String),
    owner: Schema.NullOr(ApiRef),
    primary_contact: Schema.NullOr(ApiRef),
    updated_at: Schema.Date
  }),
  rowSchema: Schema.Struct({
    id: Schema.String,
    name: Schema.String,
    domain: Schema.NullOr(Schema.String),
    owner_id: Schema.NullOr(Schema.String).pipe(Reference.softRef("owner")),
    // contact -> account is hard, so this edge closes a cycle: the graph drops it with a warning.
    primary_contact_id: Schema.NullOr(Schema.String).pipe(Reference.softRef("contact")),
    updated_at: Schema.DateFromSelf
  }),
  transform: (account) =>
    Either.right({
      id: account.id,
      name: account.name,
      domain: account.domain,
      owner_id: idOf(account.owner),
      primary_contact_id: idOf(account.primary_contact),
      updated_at: account.updated_at
    }),
  key: "id",
  cursor: "updated_at",
  deletions: { auditFeed: true, reconciliation: true }
})

export const contact = EntityDefinition.make({
  name: "contact",
  endpoint: "/v1/contacts",
  apiSchema: Schema.Struct({
    id: Schema.String,
    account: ApiRef,
    owner: Schema.NullOr(ApiRef),
    first_name: Schema.String,
    last_name: Schema.String,
    email: Schema.NullOr(Schema.String),
    updated_at: Schema.Date
  }),
  rowSchema: Schema.Struct({
    id: Schema.String,
    account_id: Schema.String.pipe(Reference.hardRef("account")),
    owner_id: Schema.NullOr(Schema.String).pipe(Reference.softRef("owner")),
    name: Schema.String,
    email: Schema.NullOr(Schema.String),
    updated_at: Schema.DateFromSelf
  }),
  transform: (contact) =>
    Either.right({
      id: contact.id,
      account_id: contact.account.id,
      owner_id: idOf(contact.owner),
      name: `${contact.first_name} ${contact.last_name}`.trim(),
      email: contact.email,
      updated_at: contact.updated_at
    }),
  key: "id",
  cursor: "updated_at",
  deletions: { auditFeed: true, reconciliation: true }
})

const Stage = Schema.Literal("open", "won", "lost")

export const deal = EntityDefinition.make({
  name: "deal",
  endpoint: "/v1/deals",
  apiSchema: Schema.Struct({
    id: Schema.String,
    title: Schema.String,
    account: ApiRef,
    contact: Schema.NullOr(ApiRef),
    owner: Schema.NullOr(ApiRef),
    stage: Stage,
    /** A decimal string: "12500.00". */
    amount: Schema.String,
    currency: Schema.String,
    updated_at: Schema.Date
  }),
  rowSchema: Schema.Struct({
    id: Schema.String,
    title: Schema.String,
    account_id: Schema.String.pipe(Reference.hardRef("account")),
    contact_id: Schema.NullOr(Schema.String).pipe(Reference.softRef("contact")),
    owner_id: Schema.NullOr(Schema.String).pipe(Reference.softRef("owner")),
    stage: Stage,
    amount_cents: Schema.Int,
    currency: Schema.String,
    updated_at: Schema.DateFromSelf
  }),
  transform: (deal) => {
    const amount = /^(\d+)\.(\d{2})$/.exec(deal.amount)
    if (amount === null) return Either.left(`amount ${JSON.stringify(deal.amount)} is not a decimal with 2 places`)
    return Either.right({
      id: deal.id,
      title: deal.title,
      account_id: deal.account.id,
      contact_id: idOf(deal.contact),
      owner_id: idOf(deal.owner),
      stage: deal.stage,
      amount_cents: Number(amount[1]) * 100 + Number(amount[2]),
      currency: deal.currency,
      updated_at: deal.updated_at
    })
  },
  key: "id",
  cursor: "updated_at",
  deletions: { auditFeed: true, reconciliation: true }
})

export const crmEntities = [owner, account, contact, deal] as const

/** Checked by a test; a bad set throws the `ManifestError` when the module loads. */
export const crmManifest = Manifest.unsafeMakeEntityManifest(crmEntities)
// end doc: entities

// doc: adapter
export const CRM_ADAPTER = "crm"

export type CrmAdapterOptions = Omit<SourceHttp.SourceHttpOptions, "adapter">

/** The CRM's largest page, and ids per `ids=` request (keeps URLs short). */
const MAX_LIMIT = 500
const IDS_PER_REQUEST = 100

const listOf = <A, I>(item: Schema.Schema<A, I>) => Schema.Struct({ data: Schema.Array(item), has_more: Schema.Boolean })
const RecordList = listOf(Schema.Unknown)
const DeletionList = listOf(Schema.Struct({ id: Schema.String, object_id: Schema.String, deleted_at: Schema.Date }))

// Read leniently from the raw body, so that an invalid record still has a key and moves the keyset on.
const keyOf = (raw: unknown): string | null =>
  typeof raw === "object" && raw !== null && "id" in raw && typeof raw.id === "string" ? raw.id : null
const cursorOf = (raw: unknown): Date | undefined => {
  if (typeof raw !== "object" || raw === null || !("updated_at" in raw) || typeof raw.updated_at !== "string") {
    return undefined
  }
  const at = new Date(raw.updated_at)
  return Number.isNaN(at.getTime()) ? undefined : at
}
const positionOf = (raw: unknown): Option.Option<Adapter.Position> => {
  const key = keyOf(raw)
  const cursor = cursorOf(raw)
  return key !== null && cursor !== undefined ? Option.some({ cursor, key }) : Option.none()
}

/** Validate, then transform: a record for the sink, or an `InvalidRecord` that keeps the raw body. */
export const recordDecoder = (definition: EntityDefinition.AnyEntityDefinition) => {
  const decode = Schema.decodeUnknownEither(definition.apiSchema, { errors: "all" })
  return (raw: unknown): Either.Either<Adapter.SourceRecord, SourceError.InvalidRecord> => {
    const invalid = (reason: string) =>
      new SourceError.InvalidRecord({ entity: definition.name, key: keyOf(raw), reason, raw })
    return Either.match(decode(raw), {
      onLeft: (error) => Either.left(invalid(ParseResult.TreeFormatter.formatErrorSync(error))),
      onRight: (record) =>
        Either.match(definition.transform(record), {
          onLeft: (reason: string) => Either.left(invalid(reason)),
          onRight: (row: Record<string, unknown>) =>
            Either.right({
              key: String(row[definition.key]),
              cursor: definition.cursor === undefined ? undefined : row[definition.cursor] as Date,
              row,
              raw
            })
        })
    })
  }
}

export const make = (
  options: CrmAdapterOptions
): Effect.Effect<Adapter.Adapter, never, HttpClient.HttpClient | RateBudget.RateBudgets> =>
  Effect.gen(function*() {
    const http = yield* SourceHttp.make({ ...options, adapter: CRM_ADAPTER })
    const decoders = new Map(crmEntities.map((definition) => [definition.name, recordDecoder(definition)]))

    // The engine only asks for entities of the manifest: any other name is a bug, not a source error.
    const entityOf = (name: string) => Effect.orDie(Manifest.lookup(crmManifest, name))

    const list = <A, I>(
      body: Schema.Schema<A, I>,
      path: string,
      params: Readonly<Record<string, string>>,
      entity: string
    ) =>
      Effect.flatMap(http.getJson(path, params, entity), (response) =>
        Effect.mapError(Schema.decodeUnknown(body)(response.body), (error) =>
          new SourceError.SourceResponseError({
            adapter: CRM_ADAPTER,
            org: options.org,
            entity,
            method: "GET",
            url: path,
            reason: ParseResult.TreeFormatter.formatErrorSync(error),
            bodyExcerpt: JSON.stringify(response.body).slice(0, 500),
            attempts: 1
          })))

    const toPage = (entity: string, data: ReadonlyArray<unknown>, hasMore: boolean): Adapter.Page => {
      const decode = decoders.get(entity)!
      const records: Array<Adapter.SourceRecord> = []
      const invalid: Array<SourceError.InvalidRecord> = []
      let last = Option.none<Adapter.Position>()
      for (const raw of data) {
        Either.match(decode(raw), { onLeft: (bad) => invalid.push(bad), onRight: (good) => records.push(good) })
        const position = positionOf(raw)
        if (Option.isSome(position)) last = position
      }
      return { entity, records, invalid, last, hasMore }
    }

    const fetchPage = (request: Adapter.PageRequest) =>
      Effect.gen(function*() {
        const entity = yield* entityOf(request.entity)
        const params: Record<string, string> = {
          sort: "updated_at,id",
          limit: String(Math.min(request.limit, MAX_LIMIT))
        }
        if (Option.isSome(request.after)) {
          const { cursor, key } = request.after.value
          if (request.lookback === undefined) params.after = `${cursor.toISOString()},${key}`
          else params.updated_since = new Date(cursor.getTime() - Duration.toMillis(request.lookback)).toISOString()
        }
        if (request.until !== undefined) params.updated_until = request.until.toISOString()
        const body = yield* list(RecordList, entity.endpoint, params, entity.name)
        return toPage(entity.name, body.data, body.has_more)
      })

    const fetchByKeys = (name: string, keys: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const entity = yield* entityOf(name)
        const bodies = yield* Effect.forEach(Arr.chunksOf(Arr.dedupe(keys), IDS_PER_REQUEST), (ids) =>
          list(RecordList, entity.endpoint, { ids: ids.join(","), limit: String(ids.length) }, entity.name))
        return { ...toPage(entity.name, bodies.flatMap((body) => body.data), false), last: Option.none() }
      })

    const streamKeys = (name: string, pageSize = MAX_LIMIT) =>
      Stream.unwrap(Effect.map(entityOf(name), (entity) =>
        Stream.paginateChunkEffect(Option.none<string>(), (afterKey) =>
          list(RecordList, entity.endpoint, {
            sort: "id",
            fields: "id,updated_at",
            limit: String(pageSize),
            ...(Option.isSome(afterKey) ? { after: afterKey.value } : {})
          }, entity.name).pipe(Effect.map((body) => {
            const keys = body.data.flatMap((raw) => {
              const key = keyOf(raw)
              return key === null ? [] : [{ key, cursor: cursorOf(raw) }]
            })
            const next = body.has_more && keys.length > 0 ? Option.some(Option.some(keys.at(-1)!.key)) : Option.none()
            return [Chunk.unsafeFromArray(keys), next] as const
          })))))

    const deletionsSince = (name: string, since: Date) =>
      Stream.unwrap(Effect.map(entityOf(name), (entity) =>
        !entity.deletions.auditFeed
          ? Stream.empty
          : Stream.paginateChunkEffect(Option.none<string>(), (after) =>
            list(DeletionList, "/v1/deletions", {
              object: entity.name,
              since: since.toISOString(),
              sort: "deleted_at,id",
              limit: String(MAX_LIMIT),
              ...(Option.isSome(after) ? { after: after.value } : {})
            }, entity.name).pipe(Effect.map((body) => {
              const deletions = body.data.map((row) => ({ entity: entity.name, key: row.object_id, deletedAt: row.deleted_at }))
              const last = body.data.at(-1)
              const next = body.has_more && last !== undefined
                ? Option.some(Option.some(`${last.deleted_at.toISOString()},${last.id}`))
                : Option.none()
              return [Chunk.unsafeFromArray(deletions), next] as const
            })))))

    const firstCursor = (name: string, sort: string) =>
      Effect.gen(function*() {
        const entity = yield* entityOf(name)
        const body = yield* list(RecordList, entity.endpoint, { sort, fields: "id,updated_at", limit: "1" }, entity.name)
        return Option.fromNullable(cursorOf(body.data[0]))
      })
    const highWater = (name: string) => firstCursor(name, "-updated_at,-id")
    const lowWater = (name: string) => firstCursor(name, "updated_at,id")

    const adapter: Adapter.Adapter = {
      name: CRM_ADAPTER,
      org: options.org,
      manifest: crmManifest,
      // `updated_at` has milliseconds.
      cursorResolutionMillis: 1,
      fetchPage,
      streamKeys,
      fetchByKeys,
      deletionsSince,
      highWater,
      lowWater
    }
    return adapter
  })
// end doc: adapter

// -----------------------------------------------------------------------------------------------
// the doc's claims
// -----------------------------------------------------------------------------------------------

const rawDeal = {
  id: "deal_42",
  title: "Acme renewal",
  account: { id: "acc_7" },
  contact: { id: "con_3" },
  owner: null,
  stage: "open",
  amount: "12500.00",
  currency: "EUR",
  updated_at: "2026-03-01T09:30:00.000Z"
}

/** A CRM answering every GET from `answer`, recording the URLs it was asked. */
const fakeCrm = (answer: (url: URL) => unknown) => {
  const seen: Array<URL> = []
  const client = HttpClient.make((request, url) =>
    Effect.sync(() => {
      seen.push(url)
      return HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(answer(url)), { status: 200, headers: { "content-type": "application/json" } })
      )
    })
  )
  return { seen, layer: Layer.merge(Layer.succeed(HttpClient.HttpClient, client), RateBudget.layer) }
}

const options: CrmAdapterOptions = { org: "acme", baseUrl: "https://crm.example.com", auth: { _tag: "None" } }

describe("docs/adapters.md: the CRM example", () => {
  it.effect("the manifest keeps declared order and derives references from the row schemas", () =>
    Effect.gen(function*() {
      const manifest = yield* Manifest.mkEntityManifest(crmEntities)
      expect(Manifest.names(manifest)).toEqual(["owner", "account", "contact", "deal"])
      expect(EntityDefinition.references(deal).map((r) => `${r.field}:${r.kind}:${r.target}`)).toEqual([
        "account_id:hard:account",
        "contact_id:soft:contact",
        "owner_id:soft:owner"
      ])
    }))

  it.effect("the manifest names a reference to an entity outside the set", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Manifest.mkEntityManifest([contact, deal]))
      expect(error._tag).toBe("UnknownReferenceTargetError")
      expect(error.message).toBe(
        `entity "contact" field "account_id" has a hard reference to unknown entity "account"; ` +
          `known entities: "contact", "deal"`
      )
      const duplicate = yield* Effect.flip(Manifest.mkEntityManifest([owner, account, contact, deal, owner]))
      expect(duplicate.message).toBe(`duplicate entity names in manifest: "owner"`)
    }))

  it.effect("levels, the dropped soft edge and the Mermaid text", () =>
    Effect.gen(function*() {
      const graph = yield* DependencyGraph.build(crmManifest)
      expect(graph.levels).toEqual([["owner"], ["account"], ["contact"], ["deal"]])
      expect(graph.droppedEdges).toEqual([{
        from: "contact",
        to: "account",
        field: "primary_contact_id",
        reason: "closes-cycle",
        message: "dropped soft edge contact -> account (field account.primary_contact_id): " +
          "it would close the cycle contact -> account -> contact"
      }])
      expect(DependencyGraph.toMermaid(graph)).toBe(
        [
          "graph TD",
          "  owner",
          "  account",
          "  contact",
          "  deal",
          "  owner -.->|owner_id| account",
          "  account -->|account_id| contact",
          "  owner -.->|owner_id| contact",
          "  account -->|account_id| deal",
          "  contact -.->|contact_id| deal",
          "  owner -.->|owner_id| deal",
          "  %% dropped soft edge contact -> account (field account.primary_contact_id): " +
          "it would close the cycle contact -> account -> contact",
          ""
        ].join("\n")
      )
      // A run of deals alone pulls in their hard parent, not their soft ones.
      expect(yield* DependencyGraph.planFor(graph, ["deal"])).toEqual([["account"], ["deal"]])
      expect(DependencyGraph.dependants(graph, "account")).toEqual(["contact", "deal"])
    }))

  it.effect("made hard, the account's primary contact is a cycle the graph refuses", () =>
    Effect.gen(function*() {
      const strictAccount: EntityDefinition.AnyEntityDefinition = {
        ...account,
        rowSchema: Schema.Struct({
          id: Schema.String,
          primary_contact_id: Schema.NullOr(Schema.String).pipe(Reference.hardRef("contact"))
        })
      }
      const manifest = yield* Manifest.mkEntityManifest([owner, strictAccount, contact, deal])
      const error = yield* Effect.flip(DependencyGraph.build(manifest))
      expect(error._tag).toBe("HardCycleError")
      expect(error.message).toBe(
        "hard dependency cycle: account -> contact -> account (via contact.account_id, account.primary_contact_id)"
      )
    }))

  it("a deal decodes and transforms into a typed row; a bad amount and a bad stage become dead letters", () => {
    const decodeDeal = recordDecoder(deal)
    const record = Either.getOrThrow(decodeDeal(rawDeal))
    expect(record.key).toBe("deal_42")
    expect(record.cursor).toEqual(new Date("2026-03-01T09:30:00.000Z"))
    expect(record.raw).toBe(rawDeal)
    expect(record.row).toEqual({
      id: "deal_42",
      title: "Acme renewal",
      account_id: "acc_7",
      contact_id: "con_3",
      owner_id: null,
      stage: "open",
      amount_cents: 1250000,
      currency: "EUR",
      updated_at: new Date("2026-03-01T09:30:00.000Z")
    })

    const badAmount = Either.flip(decodeDeal({ ...rawDeal, amount: "12,500" }))
    expect(Either.getOrThrow(badAmount).reason).toBe(`amount "12,500" is not a decimal with 2 places`)

    const badStage = Either.getOrThrow(Either.flip(decodeDeal({ ...rawDeal, stage: "pending" })))
    expect(badStage._tag).toBe("InvalidRecord")
    expect(badStage.key).toBe("deal_42")
    expect(badStage.reason).toContain("stage")
    expect(badStage.reason).toContain(`"pending"`)
  })

  it.effect("fetchPage asks for the keyset after a position, or steps back by the lookback", () =>
    Effect.gen(function*() {
      const bad = { ...rawDeal, id: "deal_43", amount: "n/a", updated_at: "2026-03-01T09:31:00.000Z" }
      const crm = fakeCrm(() => ({ data: [rawDeal, bad], has_more: true }))
      const adapter = yield* make(options).pipe(Effect.provide(crm.layer))
      const after = Option.some({ cursor: new Date("2026-03-01T09:00:00.000Z"), key: "deal_40" })

      const page = yield* adapter.fetchPage({ entity: "deal", after, limit: 1000 })
      expect(Object.fromEntries(crm.seen[0]!.searchParams)).toEqual({
        sort: "updated_at,id",
        limit: "500",
        after: "2026-03-01T09:00:00.000Z,deal_40"
      })
      expect(crm.seen[0]!.pathname).toBe("/v1/deals")
      expect(page.records.map((r) => r.key)).toEqual(["deal_42"])
      expect(page.invalid.map((r) => [r.key, r.reason])).toEqual([
        ["deal_43", `amount "n/a" is not a decimal with 2 places`]
      ])
      // The invalid record is the last one and still moves the position on.
      expect(page.last).toEqual(Option.some({ cursor: new Date("2026-03-01T09:31:00.000Z"), key: "deal_43" }))
      expect(page.hasMore).toBe(true)

      yield* adapter.fetchPage({ entity: "deal", after, lookback: "5 minutes", limit: 100 })
      expect(Object.fromEntries(crm.seen[1]!.searchParams)).toEqual({
        sort: "updated_at,id",
        limit: "100",
        updated_since: "2026-03-01T08:55:00.000Z"
      })
    }))

  it.effect("deletions come from the feed only for entities that have one", () =>
    Effect.gen(function*() {
      const crm = fakeCrm(() => ({
        data: [{ id: "del_1", object_id: "deal_9", deleted_at: "2026-03-02T00:00:00.000Z" }],
        has_more: false
      }))
      const adapter = yield* make(options).pipe(Effect.provide(crm.layer))
      const since = new Date("2026-03-01T00:00:00.000Z")
      const deals = yield* Stream.runCollect(adapter.deletionsSince("deal", since))
      expect(Chunk.toArray(deals)).toEqual([
        { entity: "deal", key: "deal_9", deletedAt: new Date("2026-03-02T00:00:00.000Z") }
      ])
      expect(crm.seen[0]!.searchParams.get("object")).toBe("deal")
      expect(Chunk.size(yield* Stream.runCollect(adapter.deletionsSince("owner", since)))).toBe(0)
      expect(crm.seen).toHaveLength(1)
    }))
})
