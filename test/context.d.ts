// What the global setup hands to every test file through vitest's `provide`/`inject`.
import "vitest"

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL of the run's one Postgres server; each test file creates its own database on it. */
    adminDatabaseUrl: string
  }
}
