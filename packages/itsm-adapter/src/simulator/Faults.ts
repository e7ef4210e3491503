import { hash4, Prng } from "./Hash.js"

export type FaultKind = "5xx" | "timeout" | "truncate" | "invalid-record"

export interface FaultRule {
  readonly kind: FaultKind
  /** How many matching requests fail; unlimited when only `rate` is given, 1 when neither is. */
  readonly count?: number | undefined
  /** The fraction of matching requests that fail (deterministic sequence). */
  readonly rate?: number | undefined
  /** Only requests to this table; every table when absent. */
  readonly table?: string | undefined
  /** For `5xx`: the status to answer (500 when absent). */
  readonly status?: 500 | 502 | 503 | undefined
}

interface ActiveRule {
  readonly rule: FaultRule
  remaining: number
  readonly rng: Prng
}

/**
 * Injected failures for Table API requests. `5xx`, `timeout` and `truncate` are decided before
 * the query runs; `invalid-record` after it, and only consumed by a response that has a record
 * to break, so "the next request fails" holds for the next request that can fail that way.
 */
export class Faults {
  private rules: Array<ActiveRule> = []
  private added = 0
  injected = 0

  add(rule: FaultRule): void {
    const remaining = rule.count ?? (rule.rate !== undefined ? Number.POSITIVE_INFINITY : 1)
    this.rules.push({ rule, remaining, rng: new Prng(hash4(0xfa017, this.added++)) })
  }

  clear(): void {
    this.rules = []
  }

  active(): ReadonlyArray<FaultRule & { readonly remaining: number | null }> {
    return this.rules.map(({ rule, remaining }) => ({
      ...rule,
      remaining: Number.isFinite(remaining) ? remaining : null
    }))
  }

  /** The fault to inject now for a request to `table`, among `kinds`, consuming it. */
  take(table: string, kinds: ReadonlyArray<FaultKind>): FaultRule | null {
    for (const active of this.rules) {
      const { rule } = active
      if (!kinds.includes(rule.kind) || (rule.table !== undefined && rule.table !== table)) continue
      if (rule.rate !== undefined && !active.rng.chance(rule.rate)) continue
      active.remaining--
      if (active.remaining <= 0) this.rules = this.rules.filter((r) => r !== active)
      this.injected++
      return rule
    }
    return null
  }
}
