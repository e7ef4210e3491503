import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Option } from "effect"
import { ServerConfig } from "../src/ServerConfig.js"

const load = (env: Record<string, string>) =>
  Effect.either(Effect.withConfigProvider(ServerConfig, ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("ServerConfig", () => {
  const sizes = [
    { variable: "POSTGRES_SHARED_BUFFERS", field: "postgresSharedBuffers" },
    { variable: "POSTGRES_MAX_WAL_SIZE", field: "postgresMaxWalSize" }
  ] as const

  for (const { field, variable } of sizes) {
    it.effect(`takes ${variable} as a Postgres size, none by default`, () =>
      Effect.gen(function*() {
        const byDefault = yield* load({})
        expect(Either.map(byDefault, (config) => config[field])).toEqual(Either.right(Option.none()))
        const set = yield* load({ [variable]: "2GB" })
        expect(Either.map(set, (config) => config[field])).toEqual(Either.right(Option.some("2GB")))
      }))

    it.effect(`refuses a ${variable} Postgres would not read, naming the variable`, () =>
      Effect.gen(function*() {
        for (const bad of ["2 GB", "lots", "2gb", "0MB", "1.5GB"]) {
          const result = yield* load({ [variable]: bad })
          expect(Either.isLeft(result)).toBe(true)
          if (Either.isLeft(result)) {
            expect(String(result.left)).toContain(variable)
            expect(String(result.left)).toContain("for example 2GB")
          }
        }
      }))
  }
})
