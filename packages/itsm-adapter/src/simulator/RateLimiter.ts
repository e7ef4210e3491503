export type RateDecision =
  | { readonly allowed: true; readonly limit: number; readonly remaining: number }
  | { readonly allowed: false; readonly limit: number; readonly retryAfter: number; readonly resetAt: number }

interface Bucket {
  tokens: number
  refilledAt: number
}

/**
 * A token bucket per credential: `perSecond` tokens a second up to `burst`. Off when
 * `perSecond` is 0. Runs on real time, like the client's own retry timers.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  perSecond = 0
  burst = 0

  configure(perSecond: number, burst: number | undefined): void {
    this.perSecond = Math.max(0, perSecond)
    this.burst = Math.max(1, burst ?? Math.ceil(this.perSecond))
    this.buckets.clear()
  }

  take(principal: string, nowMs: number): RateDecision | null {
    if (this.perSecond <= 0) return null
    const bucket = this.buckets.get(principal) ?? { tokens: this.burst, refilledAt: nowMs }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((nowMs - bucket.refilledAt) / 1000) * this.perSecond)
    bucket.refilledAt = nowMs
    this.buckets.set(principal, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return { allowed: true, limit: this.perSecond, remaining: Math.floor(bucket.tokens) }
    }
    const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond))
    return {
      allowed: false,
      limit: this.perSecond,
      retryAfter,
      resetAt: Math.ceil(nowMs / 1000) + retryAfter
    }
  }
}
