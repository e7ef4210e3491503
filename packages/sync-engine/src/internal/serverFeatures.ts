/**
 * What the Postgres server behind a client can do beyond the oldest version Tidemark supports: asked
 * once per client (its version does not change under a pool), then answered from memory.
 */
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect } from "effect"

/**
 * How the upsert learns the values it replaced: `returning` reads them from the statement itself
 * (PostgreSQL 18's `RETURNING old.*`), `lookup` from a separate read of the page's keys.
 */
export type PreviousValues = "returning" | "lookup"

const known = new WeakMap<SqlClient.SqlClient, PreviousValues>()

export const previousValues = (sql: SqlClient.SqlClient): Effect.Effect<PreviousValues, SqlError.SqlError> =>
  Effect.suspend(() => {
    const cached = known.get(sql)
    if (cached !== undefined) return Effect.succeed(cached)
    return Effect.map(sql<{ version: number }>`SELECT current_setting('server_version_num')::int AS version`, (rows) => {
      const found: PreviousValues = (rows[0]?.version ?? 0) >= 180000 ? "returning" : "lookup"
      known.set(sql, found)
      return found
    })
  })
