/**
 * The server's configuration, from the environment. With nothing set, `pnpm start` runs everything
 * embedded: Postgres, the ITSM simulator as the source, one node. Every variable is in the README.
 */
import { Config, Option, Redacted } from "effect"

export interface ServerConfig {
  /** Where the embedded Postgres keeps its data (without DATABASE_URL); default `.data/postgres`. */
  readonly dataDir: Option.Option<string>
  /** `shared_buffers` of the embedded Postgres; default a quarter of memory within 512 MB–8 GB. */
  readonly postgresSharedBuffers: Option.Option<string>
  /** `max_wal_size` of the embedded Postgres; default 8 GB. */
  readonly postgresMaxWalSize: Option.Option<string>
  /** HTTP port of the API, RPC, web page, health and metrics. */
  readonly port: number
  /** Org whose source this node syncs (one ITSM instance per org). */
  readonly orgId: string
  /** The ITSM instance; none: an embedded simulator. */
  readonly itsmBaseUrl: Option.Option<string>
  readonly itsmClientId: string
  readonly itsmClientSecret: Redacted.Redacted
  /** Requests per second allowed against the source, shared by all syncs of the org on this node. */
  readonly itsmRequestsPerSecond: number
  /** Port of the embedded simulator (0: any free one). */
  readonly simulatorPort: number
  /** With a runner port, this process is one node of a cluster; without, a single node. */
  readonly runnerHost: string
  readonly runnerPort: Option.Option<number>
  readonly nodeName: Option.Option<string>
  /** Cron of the periodic delta ("off" to disable). */
  readonly scheduleDelta: string
  /** Cron of the nightly reconciliation ("off" to disable). */
  readonly scheduleReconciliation: string
  /** HMAC-SHA256 secret of `POST /webhooks/itsm/{org}`. */
  readonly webhookSecret: Redacted.Redacted
  /** `token=org[:admin],…`: bearer tokens of the dashboard API. */
  readonly apiTokens: Redacted.Redacted
  readonly pageSize: number
  /** Rows a node holds at once over all its pages (see `EngineConfigShape.maxRowsInFlight`). */
  readonly maxRowsInFlight: Option.Option<number>
  /** Shard lock expiry in seconds: how long a dead node's work waits before another takes it. */
  readonly shardLockExpirationSeconds: number
  /** How long the dashboard overview may be served from its snapshot when nothing changed (0: never). */
  readonly overviewMaxAgeMillis: number
}

/** A Postgres size setting, checked here so that a typo stops start-up with the variable's name. */
const postgresSize = (name: string) =>
  Config.option(
    Config.string(name).pipe(Config.validate({
      message: "expected a size as Postgres writes it: a whole number and kB, MB, GB or TB (for example 2GB)",
      validation: (size) => /^[1-9][0-9]*(kB|MB|GB|TB)$/.test(size)
    }))
  )

export const ServerConfig: Config.Config<ServerConfig> = Config.all({
  dataDir: Config.option(Config.string("TIDEMARK_DATA_DIR")),
  postgresSharedBuffers: postgresSize("POSTGRES_SHARED_BUFFERS"),
  postgresMaxWalSize: postgresSize("POSTGRES_MAX_WAL_SIZE"),
  port: Config.integer("PORT").pipe(Config.withDefault(8080)),
  orgId: Config.string("ORG_ID").pipe(Config.withDefault("demo")),
  itsmBaseUrl: Config.option(Config.string("ITSM_BASE_URL")),
  itsmClientId: Config.string("ITSM_CLIENT_ID").pipe(Config.withDefault("tidemark")),
  itsmClientSecret: Config.redacted("ITSM_CLIENT_SECRET").pipe(Config.withDefault(Redacted.make("tidemark-secret"))),
  itsmRequestsPerSecond: Config.number("ITSM_REQUESTS_PER_SECOND").pipe(Config.withDefault(20)),
  simulatorPort: Config.integer("SIMULATOR_PORT").pipe(Config.withDefault(0)),
  runnerHost: Config.string("RUNNER_HOST").pipe(Config.withDefault("127.0.0.1")),
  runnerPort: Config.option(Config.integer("RUNNER_PORT")),
  nodeName: Config.option(Config.string("NODE_NAME")),
  scheduleDelta: Config.string("SCHEDULE_DELTA").pipe(Config.withDefault("*/5 * * * *")),
  scheduleReconciliation: Config.string("SCHEDULE_RECONCILIATION").pipe(Config.withDefault("0 3 * * *")),
  webhookSecret: Config.redacted("WEBHOOK_SECRET").pipe(Config.withDefault(Redacted.make("tidemark-webhook-secret"))),
  apiTokens: Config.redacted("API_TOKENS").pipe(Config.withDefault(Redacted.make("demo-token=demo:admin"))),
  pageSize: Config.integer("PAGE_SIZE").pipe(Config.withDefault(2000)),
  maxRowsInFlight: Config.option(Config.integer("MAX_ROWS_IN_FLIGHT")),
  shardLockExpirationSeconds: Config.integer("SHARD_LOCK_EXPIRATION_SECONDS").pipe(Config.withDefault(10)),
  overviewMaxAgeMillis: Config.integer("OVERVIEW_MAX_AGE_MS").pipe(Config.withDefault(1000))
})
