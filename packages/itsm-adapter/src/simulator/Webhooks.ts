import { Effect, Queue, type Scope } from "effect"
import { createHmac } from "node:crypto"
import type { SimulatorCore } from "./Core.js"
import { WebhookDeliveryError } from "./Errors.js"
import type { ChangeEvent } from "./Mutations.js"

export const SIGNATURE_HEADER = "X-Signature-SHA256"

/** Hex HMAC-SHA256 of the exact body bytes: what a receiver recomputes to trust a delivery. */
export const sign = (secret: string, body: string): string => createHmac("sha256", secret).update(body).digest("hex")

/**
 * Delivers every change to the configured URL, one at a time in mutation order (so per record
 * too), retrying once. Mutations only enqueue: a slow receiver never slows the Table API.
 */
export const start = (core: SimulatorCore): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<ChangeEvent>()
    core.emit = (events) => {
      for (const event of events) queue.unsafeOffer(event)
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        core.emit = null
      })
    )
    yield* Queue.take(queue).pipe(
      Effect.flatMap((event) => deliver(core, event)),
      Effect.forever,
      Effect.forkScoped
    )
  })

const deliver = (core: SimulatorCore, event: ChangeEvent): Effect.Effect<void> => {
  const config = core.webhook
  if (config === null) return Effect.void
  const body = JSON.stringify(event)
  const post = Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(config.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", [SIGNATURE_HEADER]: sign(config.secret, body) },
        body,
        signal
      })
      await response.arrayBuffer()
      return response.status
    },
    catch: (cause) => new WebhookDeliveryError({ url: config.url, status: null, cause })
  }).pipe(
    Effect.timeoutFail({
      duration: "5 seconds",
      onTimeout: () => new WebhookDeliveryError({ url: config.url, status: null, cause: "timed out after 5 s" })
    }),
    Effect.filterOrFail(
      (status) => status >= 200 && status < 300,
      (status) => new WebhookDeliveryError({ url: config.url, status, cause: `answered ${status}` })
    )
  )
  return post.pipe(
    Effect.retry({ times: 1 }),
    Effect.matchEffect({
      onSuccess: () =>
        Effect.sync(() => {
          core.counters.webhooksDelivered++
        }),
      onFailure: (error) =>
        Effect.sync(() => {
          core.counters.webhooksFailed++
        }).pipe(
          Effect.zipRight(Effect.logWarning("Webhook delivery failed after one retry")),
          Effect.annotateLogs({
            url: error.url,
            status: String(error.status),
            table: event.table,
            sys_id: event.sys_id,
            operation: event.operation
          })
        )
    })
  )
}
