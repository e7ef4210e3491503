import { Either } from "effect"
import { AuthState, type AuthMode, type Credentials } from "./Auth.js"
import { Dataset } from "./Dataset.js"
import * as EncodedQuery from "./EncodedQuery.js"
import { badRequest, type SimulatorRequestError } from "./Errors.js"
import { Faults } from "./Faults.js"
import { hash4, Prng } from "./Hash.js"
import { type ChangeEvent, type MutationRequest, type MutationResult, Mutator } from "./Mutations.js"
import { plan as makePlan, type Plan } from "./QueryPlan.js"
import { RateLimiter } from "./RateLimiter.js"
import { Counters, RequestLog, type StatsSnapshot } from "./RequestLog.js"
import type { TableCounts } from "./Scale.js"
import { fieldsOf } from "./tables/Catalog.js"
import { isTableName, type TableName } from "./tables/TableSpec.js"
import { formatDateTime, SimClock } from "./Time.js"
import { TruthSnapshot } from "./Truth.js"

export interface LatencyConfig {
  readonly ms: number
  readonly jitterMs: number
}

export interface StreamConfig {
  /** Mutations per second; 0 stops the stream. */
  readonly perSecond: number
  /** Relative weights of creates, updates and deletes (default 2 : 7 : 1). */
  readonly mix?:
    | {
      readonly create?: number | undefined
      readonly update?: number | undefined
      readonly delete?: number | undefined
    }
    | undefined
  /** Every `burstEvery` seconds, `burstSize` updates of one table share one timestamp. */
  readonly burstEvery?: number | undefined
  readonly burstSize?: number | undefined
  /** Tables to mutate (default: incident, em_event, change_request, problem). */
  readonly tables?: ReadonlyArray<string> | undefined
}

export interface WebhookConfig {
  readonly url: string
  readonly secret: string
}

export interface InvalidRequest {
  readonly table: string
  readonly sys_ids?: ReadonlyArray<string> | undefined
  readonly count?: number | undefined
}

export interface CoreOptions {
  readonly seed: number | string
  readonly baseTime: number
  readonly clockMode: "realtime" | "manual"
  readonly counts: TableCounts
  readonly auth: AuthMode
  readonly credentials: Credentials
  readonly tokenTtlSeconds: number
  readonly latency: LatencyConfig
  readonly rateLimit: { readonly perSecond: number; readonly burst?: number | undefined }
  readonly stream: StreamConfig
  readonly webhook: WebhookConfig | null
  readonly requestLogSize: number
}

const PLAN_CACHE_SIZE = 512

/**
 * The simulator's whole state and every control operation, synchronous and free of I/O. The
 * HTTP handlers, the in-process handle and the background fibers all drive this one object.
 */
export class SimulatorCore {
  readonly dataset: Dataset
  readonly clock: SimClock
  readonly mutator: Mutator
  readonly auth: AuthState
  readonly rateLimiter = new RateLimiter()
  readonly faults = new Faults()
  readonly log: RequestLog
  readonly counters = new Counters()
  latency: LatencyConfig
  stream: StreamConfig
  webhook: WebhookConfig | null
  /** Installed by the webhook deliverer; receives each mutation's changes in order. */
  emit: ((events: ReadonlyArray<ChangeEvent>) => void) | null = null
  private readonly plans = new Map<string, Plan>()
  private invalidCalls = 0

  constructor(options: CoreOptions) {
    this.dataset = new Dataset({ seed: options.seed, baseTime: options.baseTime, counts: options.counts })
    this.clock = new SimClock(options.baseTime, options.clockMode)
    this.mutator = new Mutator(this.dataset, this.clock, () => (this.webhook === null ? null : this.emit))
    this.auth = new AuthState(options.auth, options.credentials, options.tokenTtlSeconds)
    this.rateLimiter.configure(options.rateLimit.perSecond, options.rateLimit.burst)
    this.log = new RequestLog(options.requestLogSize)
    this.latency = options.latency
    this.stream = options.stream
    this.webhook = options.webhook
  }

  now(): string {
    return formatDateTime(this.clock.now())
  }

  table(name: string): Either.Either<TableName, SimulatorRequestError> {
    return isTableName(name) ? Either.right(name) : Either.left(badRequest(`Invalid table ${name}`))
  }

  /** Parses and plans a query, reusing the plan when the same query comes again (every page). */
  plan(table: TableName, query: string): Either.Either<Plan, SimulatorRequestError> {
    const key = `${table}\u0000${query}`
    const cached = this.plans.get(key)
    if (cached !== undefined) return Either.right(cached)
    return EncodedQuery.parse(query, table, fieldsOf(table)).pipe(
      Either.map((parsed) => {
        const planned = makePlan(this.dataset.store(table), parsed)
        if (this.plans.size >= PLAN_CACHE_SIZE) this.plans.clear()
        this.plans.set(key, planned)
        return planned
      })
    )
  }

  mutate(request: MutationRequest): Either.Either<MutationResult, SimulatorRequestError> {
    const result = this.mutator.apply(request)
    if (Either.isRight(result)) this.counters.mutations++
    return result
  }

  markInvalid(
    request: InvalidRequest
  ): Either.Either<{ readonly invalid: ReadonlyArray<string> }, SimulatorRequestError> {
    return Either.flatMap(this.table(request.table), (table) => {
      const store = this.dataset.store(table)
      const records: Array<number> = []
      for (const id of request.sys_ids ?? []) {
        const r = store.findById(id)
        if (!store.isLive(r)) return Either.left(badRequest(`No live record ${id} in ${table}`))
        records.push(r)
      }
      const rng = new Prng(hash4(this.dataset.seedHash, 0x1a7a11d, this.invalidCalls++))
      const wanted = Math.min(request.count ?? 0, store.liveCount)
      const target = records.length + wanted
      for (let attempts = 0; records.length < target && attempts < wanted * 64; attempts++) {
        const r = rng.int(store.count)
        if (store.isLive(r) && !store.isInvalid(r) && !records.includes(r)) records.push(r)
      }
      for (const r of records) store.markInvalid(r)
      return Either.right({ invalid: records.map((r) => store.idHex(r)) })
    })
  }

  truth(table: string): Either.Either<TruthSnapshot, SimulatorRequestError> {
    return Either.map(this.table(table), (name) => new TruthSnapshot(this.dataset, name))
  }

  /** Reconfigures the background stream; refuses tables it could not mutate. */
  setStream(config: StreamConfig): Either.Either<StreamConfig, SimulatorRequestError> {
    for (const name of config.tables ?? []) {
      if (!isTableName(name)) return Either.left(badRequest(`Invalid table ${name}`))
      if (this.dataset.store(name).spec.readOnly === true) return Either.left(badRequest(`Table ${name} is read-only`))
    }
    this.stream = config
    return Either.right(config)
  }

  advanceClock(seconds: number): string {
    return formatDateTime(this.clock.advance(seconds))
  }

  setRateLimit(perSecond: number, burst: number | undefined): void {
    this.rateLimiter.configure(perSecond, burst)
  }

  liveCounts(): Readonly<Record<TableName, number>> {
    const out = {} as Record<TableName, number>
    for (const [name, store] of Object.entries(this.dataset.stores)) out[name as TableName] = store.liveCount
    return out
  }

  stats(): StatsSnapshot {
    const c = this.counters
    return {
      tokensIssued: this.auth.tokensIssued,
      requests: c.requests,
      byStatus: { ...c.byStatus },
      rateLimited: c.rateLimited,
      faultsInjected: this.faults.injected,
      recordsServed: c.recordsServed,
      mutations: c.mutations,
      webhooksDelivered: c.webhooksDelivered,
      webhooksFailed: c.webhooksFailed
    }
  }
}
