/**
 * `POST /webhooks/itsm/{org}`: a record change or deletion pushed by the ITSM instance, verified by
 * its HMAC-SHA256 signature and applied through the engine's record entities (in order per record,
 * whichever node receives it). A bad signature is 401 and a bad body 400; nothing is applied then.
 */
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { RecordChanges } from "@tidemark/sync-engine"
import { Effect, Either, ParseResult, Redacted, Schema } from "effect"
import { createHmac, timingSafeEqual } from "node:crypto"

export const SIGNATURE_HEADER = "x-signature-sha256"

const DateTimeString = Schema.String.pipe(Schema.pattern(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, {
  message: () => "expected a 'YYYY-MM-DD HH:mm:ss' datetime"
}))

export const WebhookEvent = Schema.Struct({
  table: Schema.String,
  operation: Schema.Literal("insert", "update", "delete"),
  sys_id: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{32}$/, { message: () => "expected a 32-hex sys_id" })),
  sys_updated_on: DateTimeString,
  record: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})

const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status })

const validSignature = (secret: Redacted.Redacted, body: string, signature: string | undefined) => {
  if (signature === undefined) return false
  const expected = createHmac("sha256", Redacted.value(secret)).update(body).digest()
  const given = Buffer.from(signature.replace(/^sha256=/, ""), "hex")
  return given.length === expected.length && timingSafeEqual(given, expected)
}

export const routes = (options: {
  readonly secret: Redacted.Redacted
  readonly adapter: string
  readonly orgs: ReadonlyArray<string>
}) =>
  HttpLayerRouter.add("POST", "/webhooks/itsm/:org", (request) =>
    Effect.gen(function*() {
      const params = yield* HttpLayerRouter.params
      const org = params.org ?? ""
      if (!options.orgs.includes(org)) return json(404, { error: `no org "${org}" is synced by this server` })
      const body = yield* request.text.pipe(Effect.orElseSucceed(() => ""))
      if (!validSignature(options.secret, body, request.headers[SIGNATURE_HEADER])) {
        return json(401, { error: `missing or invalid ${SIGNATURE_HEADER} signature` })
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(body)
      } catch {
        return json(400, { error: "the body is not JSON" })
      }
      const event = Schema.decodeUnknownEither(WebhookEvent)(parsed)
      if (Either.isLeft(event)) {
        return json(400, { error: ParseResult.TreeFormatter.formatErrorSync(event.left) })
      }
      const { operation, record, sys_id, sys_updated_on, table } = event.right
      if (operation !== "delete" && record === null) {
        return json(400, { error: `an ${operation} needs the record` })
      }
      const change: RecordChanges.RecordChange = operation === "delete"
        ? { _tag: "Delete", deletedAt: new Date(`${sys_updated_on.replace(" ", "T")}Z`) }
        : { _tag: "Upsert", raw: record }
      return yield* RecordChanges.applyChange(
        new RecordChanges.ApplyChangeRequest({ orgId: org, adapter: options.adapter, entity: table, key: sys_id, change })
      ).pipe(
        Effect.map((result) => json(200, result)),
        Effect.catchTag("InvalidChangeError", (error) => Effect.succeed(json(400, { error: error.message })))
      )
    }).pipe(Effect.provideService(HttpServerRequest.HttpServerRequest, request)))
