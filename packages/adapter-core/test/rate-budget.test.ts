import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import * as RateBudget from "../src/RateBudget.js"

const acquireAll = (budget: RateBudget.RateBudget, n: number) =>
  Effect.forEach(Array.from({ length: n }), () => budget.acquire, { concurrency: "unbounded", discard: true })

describe("RateBudget", () => {
  it.effect("spaces requests at the configured rate across concurrent callers", () =>
    Effect.gen(function*() {
      const budget = yield* RateBudget.makeBudget({ requestsPerSecond: 5, burst: 1 })
      const fiber = yield* Effect.fork(acquireAll(budget, 10))
      yield* TestClock.adjust("1799 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
    }))

  it.effect("lets a burst through at once, then holds the rate", () =>
    Effect.gen(function*() {
      const budget = yield* RateBudget.makeBudget({ requestsPerSecond: 10, burst: 5 })
      yield* acquireAll(budget, 5)
      const fiber = yield* Effect.fork(acquireAll(budget, 5))
      yield* TestClock.adjust("499 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
    }))

  it.effect("a pause (the source's Retry-After) holds every caller of the budget", () =>
    Effect.gen(function*() {
      const budget = yield* RateBudget.makeBudget({ requestsPerSecond: Infinity })
      yield* budget.pauseFor(3000)
      const fiber = yield* Effect.fork(acquireAll(budget, 3))
      yield* TestClock.adjust("2999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
    }))

  it.effect("budgets are shared per (org, adapter) and separate otherwise", () =>
    Effect.gen(function*() {
      const budgets = yield* RateBudget.make
      const a = yield* budgets.forSource("org-a", "itsm", { requestsPerSecond: 1 })
      const again = yield* budgets.forSource("org-a", "itsm", { requestsPerSecond: 1 })
      const b = yield* budgets.forSource("org-b", "itsm", { requestsPerSecond: 1 })
      expect(again).toBe(a)
      expect(b).not.toBe(a)
    }))
})
