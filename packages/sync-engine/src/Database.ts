/**
 * The one Postgres every part of Tidemark uses: `DATABASE_URL` when it is set, otherwise an embedded
 * server of our own, started in a data folder and stopped with the layer.
 */
import { PgClient } from "@effect/sql-pg"
import { Reactivity } from "@effect/experimental"
import { Config, Effect, Layer, Option, Redacted } from "effect"
import * as EmbeddedPostgres from "./EmbeddedPostgres.js"

export interface DatabaseOptions {
  /** Where the embedded server keeps its data when `DATABASE_URL` is not set. */
  readonly embeddedDataDir: string
  /** Pool size; default 20. */
  readonly maxConnections?: number
  /** `shared_buffers` of the embedded server; default `EmbeddedPostgres.defaultSharedBuffers()`. */
  readonly sharedBuffers?: string
  /** `max_wal_size` of the embedded server; default `EmbeddedPostgres.DEFAULT_MAX_WAL_SIZE`. */
  readonly maxWalSize?: string
  readonly onLog?: (line: string) => void
}

/** `DATABASE_URL`, or the URL of a freshly started embedded server (stopped when the scope closes). */
export const resolveUrl = (options: DatabaseOptions) =>
  Effect.gen(function*() {
    const configured = yield* Config.option(Config.redacted("DATABASE_URL"))
    if (Option.isSome(configured) && Redacted.value(configured.value) !== "") return configured.value
    const running = yield* EmbeddedPostgres.start({
      dataDir: options.embeddedDataDir,
      persistent: true,
      ...(options.sharedBuffers === undefined ? {} : { sharedBuffers: options.sharedBuffers }),
      ...(options.maxWalSize === undefined ? {} : { maxWalSize: options.maxWalSize }),
      ...(options.onLog ? { onLog: options.onLog } : {})
    })
    return Redacted.make(running.url)
  })

/** A `PgClient` (and `SqlClient`) on `DATABASE_URL` or on an embedded Postgres. */
export const layer = (options: DatabaseOptions) =>
  Layer.unwrapScoped(
    Effect.map(resolveUrl(options), (url) => layerFromUrl(url, options.maxConnections))
  )

/** A `PgClient` (and `SqlClient`) on a known URL. */
export const layerFromUrl = (url: Redacted.Redacted, maxConnections = 20) =>
  PgClient.layer({ url, maxConnections, applicationName: "tidemark" })

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`

/**
 * A new, empty database on the server behind `adminUrl`, dropped when the scope closes: each test file
 * (and each benchmark case) gets one, so nothing leaks between them.
 */
export const freshDatabase = (adminUrl: Redacted.Redacted, prefix = "tidemark") =>
  Effect.gen(function*() {
    const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
      .toLowerCase().replace(/[^a-z0-9_]/g, "_")
    const admin = yield* PgClient.make({ url: adminUrl, maxConnections: 1 })
    yield* Effect.acquireRelease(
      admin.unsafe(`CREATE DATABASE ${quoteIdent(name)}`),
      () => admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).pipe(Effect.ignore)
    )
    const url = new URL(Redacted.value(adminUrl))
    url.pathname = `/${name}`
    return { name, url: Redacted.make(url.toString()) }
  }).pipe(Effect.provide(Reactivity.layer))

/** A `PgClient` on a fresh database of its own (see `freshDatabase`). */
export const layerFresh = (adminUrl: Redacted.Redacted, prefix?: string) =>
  Layer.unwrapScoped(
    Effect.map(freshDatabase(adminUrl, prefix), (db) => layerFromUrl(db.url, 10))
  )
