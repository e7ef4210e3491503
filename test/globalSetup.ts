/**
 * One Postgres per test run: `DATABASE_URL` when set, otherwise an embedded server in a temporary
 * folder (fast, throwaway settings). Each test file then creates its own database on it.
 */
import { EmbeddedPostgres } from "@tidemark/sync-engine"
import { Effect, Exit, Scope } from "effect"
import type { TestProject } from "vitest/node"

export default async function setup(project: TestProject) {
  const scope = Effect.runSync(Scope.make())
  const url = await Effect.runPromise(
    Effect.gen(function*() {
      const configured = process.env.DATABASE_URL
      if (configured) return configured
      const dataDir = yield* EmbeddedPostgres.temporaryDataDir("tidemark-test-pg-")
      const running = yield* EmbeddedPostgres.start({ dataDir, persistent: false, unsafeFast: true })
      return running.url
    }).pipe(Scope.extend(scope))
  )
  project.provide("adminDatabaseUrl", url)
  return async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
