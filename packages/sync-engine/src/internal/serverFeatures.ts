/**
 * What the Postgres server behind a client can do beyond the oldest version Tidemark supports: asked
 * once per client (its version does not change under a pool), then answered from memory.
 */
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect } from "effect"

const versions = new WeakMap<SqlClient.SqlClient, number>()

/** The server's `server_version_num` (180000 for 18.0). */
export const serverVersion = (sql: SqlClient.SqlClient): Effect.Effect<number, SqlError.SqlError> =>
  Effect.suspend(() => {
    const cached = versions.get(sql)
    if (cached !== undefined) return Effect.succeed(cached)
    return Effect.map(sql<{ version: number }>`SELECT current_setting('server_version_num')::int AS version`, (rows) => {
      const version = rows[0]?.version ?? 0
      versions.set(sql, version)
      return version
    })
  })

/**
 * How the upsert learns the values it replaced: `returning` reads them from the statement itself
 * (PostgreSQL 18's `RETURNING old.*`), `lookup` from a separate read of the page's keys.
 */
export type PreviousValues = "returning" | "lookup"

export const previousValues = (sql: SqlClient.SqlClient): Effect.Effect<PreviousValues, SqlError.SqlError> =>
  Effect.map(serverVersion(sql), (version) => (version >= 180000 ? "returning" : "lookup"))
