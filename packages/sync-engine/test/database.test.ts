import { describe, expect, it, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Database } from "../src/index.js"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"

const adminUrl = Redacted.make(inject("adminDatabaseUrl"))

describe("Database", () => {
  layer(Database.layerFresh(adminUrl, "dbtest"), { excludeTestServices: true })("fresh database per file", (it) => {
    it.effect("is a real, empty Postgres database of its own", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [row] = yield* sql<{ db: string; version: string; tables: string }>`
          SELECT current_database() AS db, current_setting('server_version_num') AS version,
                 (SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')::text AS tables`
        expect(row!.db).toMatch(/^dbtest_/)
        expect(Number(row!.version)).toBeGreaterThanOrEqual(140000)
        expect(row!.tables).toBe("0")
        yield* sql`CREATE TABLE probe (id int primary key, note text)`
        yield* sql`INSERT INTO probe ${sql.insert([{ id: 1, note: "a" }, { id: 2, note: "b" }])}`
        const rows = yield* sql<{ id: number; note: string }>`SELECT id, note FROM probe ORDER BY id`
        expect(rows).toEqual([{ id: 1, note: "a" }, { id: 2, note: "b" }])
      }))
  })

  it.effect("drops the database when its scope closes", () =>
    Effect.gen(function*() {
      const name = yield* Effect.scoped(Effect.map(Database.freshDatabase(adminUrl, "dropme"), (db) => db.name))
      const admin = yield* PgClient.PgClient
      const rows = yield* admin<{ datname: string }>`SELECT datname FROM pg_database WHERE datname = ${name}`
      expect(rows).toEqual([])
    }).pipe(Effect.provide(Layer.fresh(Database.layerFromUrl(adminUrl, 1)))))
})
