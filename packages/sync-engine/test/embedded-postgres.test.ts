import { describe, expect, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import { Database, EmbeddedPostgres } from "../src/index.js"

const GiB = 1024 * 1024 * 1024
const unlimited = 2 ** 64

describe("EmbeddedPostgres settings", () => {
  it("is a quarter of the memory the process may use, within 512 MB and 8 GB", () => {
    expect(EmbeddedPostgres.sharedBuffersFor(24 * GiB, unlimited)).toBe("6144MB")
    expect(EmbeddedPostgres.sharedBuffersFor(24 * GiB, 0)).toBe("6144MB")
    // A cgroup limit below the machine's memory is what the process really has.
    expect(EmbeddedPostgres.sharedBuffersFor(24 * GiB, 4 * GiB)).toBe("1024MB")
    expect(EmbeddedPostgres.sharedBuffersFor(1 * GiB, unlimited)).toBe("512MB")
    expect(EmbeddedPostgres.sharedBuffersFor(256 * GiB, unlimited)).toBe("8192MB")
    expect(EmbeddedPostgres.sharedBuffersFor(5 * GiB, unlimited)).toBe("1280MB")
  })

  // The test server is embedded unless DATABASE_URL names another one, whose settings are its own.
  it.effect.skipIf(process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== "")(
    "the embedded server runs with the default",
    () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [row] = yield* sql<{ mb: string }>`
          SELECT (setting::bigint * 8192 / (1024 * 1024))::text AS mb FROM pg_settings WHERE name = 'shared_buffers'`
        expect(`${row!.mb}MB`).toBe(EmbeddedPostgres.defaultSharedBuffers())
        const [checkpoints] = yield* sql<{ max_wal_size: string; checkpoint_timeout: string }>`
          SELECT current_setting('max_wal_size') AS max_wal_size,
                 current_setting('checkpoint_timeout') AS checkpoint_timeout`
        expect(checkpoints).toEqual({
          max_wal_size: EmbeddedPostgres.DEFAULT_MAX_WAL_SIZE,
          checkpoint_timeout: EmbeddedPostgres.CHECKPOINT_TIMEOUT
        })
      }).pipe(Effect.provide(Layer.fresh(Database.layerFromUrl(Redacted.make(inject("adminDatabaseUrl")), 1))))
  )
})
