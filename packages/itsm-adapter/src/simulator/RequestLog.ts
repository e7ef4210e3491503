export interface RequestLogEntry {
  readonly seq: number
  /** Real time (ISO 8601, milliseconds) the request was answered. */
  readonly at: string
  readonly method: string
  readonly path: string
  readonly table: string | null
  readonly query: string | null
  readonly offset: number | null
  readonly limit: number | null
  /** The HTTP status; 0 when a `timeout` fault never answered. */
  readonly status: number
  /** Records in the answer. */
  readonly count: number
  readonly firstKey: string | null
  readonly lastKey: string | null
}

/** The last `capacity` API requests, in order, for tests that check what a client asked. */
export class RequestLog {
  private readonly ring: Array<RequestLogEntry | undefined>
  private seq = 0

  constructor(private readonly capacity = 100_000) {
    this.ring = new Array<RequestLogEntry | undefined>(capacity)
  }

  append(entry: Omit<RequestLogEntry, "seq" | "at">): RequestLogEntry {
    const full: RequestLogEntry = { seq: ++this.seq, at: new Date().toISOString(), ...entry }
    this.ring[full.seq % this.capacity] = full
    return full
  }

  /** Entries with `seq` greater than `since`, oldest first. */
  since(since: number): ReadonlyArray<RequestLogEntry> {
    const out: Array<RequestLogEntry> = []
    const first = Math.max(since + 1, this.seq - this.capacity + 1, 1)
    for (let seq = first; seq <= this.seq; seq++) {
      const entry = this.ring[seq % this.capacity]
      if (entry !== undefined && entry.seq === seq) out.push(entry)
    }
    return out
  }
}

export interface StatsSnapshot {
  readonly tokensIssued: number
  /** Table API and token requests (control requests under /__sim/ are not counted). */
  readonly requests: number
  readonly byStatus: Readonly<Record<string, number>>
  readonly rateLimited: number
  readonly faultsInjected: number
  readonly recordsServed: number
  readonly mutations: number
  readonly webhooksDelivered: number
  readonly webhooksFailed: number
}

export class Counters {
  requests = 0
  readonly byStatus: Record<string, number> = {}
  rateLimited = 0
  recordsServed = 0
  mutations = 0
  webhooksDelivered = 0
  webhooksFailed = 0

  countStatus(status: number): void {
    const key = String(status)
    this.byStatus[key] = (this.byStatus[key] ?? 0) + 1
  }
}
