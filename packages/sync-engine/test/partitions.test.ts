import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import { cutOffsets, partitionsAt, partitionsOf } from "../src/EntityPlan.js"
import { crossesPowerOfTwo } from "../src/EntitySyncWorkflow.js"

const at = (iso: string) => new Date(iso)

describe("full-sync partitions", () => {
  it("split (low, high] into disjoint whole-second ranges that cover everything", () => {
    const parts = partitionsOf(Option.some(at("2026-01-01T00:00:00Z")), Option.some(at("2026-01-01T00:01:40Z")), 4)
    expect(parts.map((p) => [
      Option.match(p.after, { onNone: () => null, onSome: (a) => `${a.cursor.toISOString()}|${a.key}` }),
      Option.match(p.until, { onNone: () => null, onSome: (u) => u.toISOString() })
    ])).toEqual([
      [null, "2026-01-01T00:00:25.000Z"],
      ["2026-01-01T00:00:26.000Z|", "2026-01-01T00:00:50.000Z"],
      ["2026-01-01T00:00:51.000Z|", "2026-01-01T00:01:15.000Z"],
      ["2026-01-01T00:01:16.000Z|", null]
    ])
  })

  it("follow the source's cursor resolution (milliseconds: no gap between ranges)", () => {
    const parts = partitionsOf(
      Option.some(at("2026-01-01T00:00:00.000Z")),
      Option.some(at("2026-01-01T00:00:00.010Z")),
      2,
      1
    )
    expect(parts.map((p) => [
      Option.match(p.after, { onNone: () => null, onSome: (a) => a.cursor.toISOString() }),
      Option.match(p.until, { onNone: () => null, onSome: (u) => u.toISOString() })
    ])).toEqual([[null, "2026-01-01T00:00:00.005Z"], ["2026-01-01T00:00:00.006Z", null]])
  })

  it("stay whole when there is nothing to split", () => {
    const whole = [{ after: Option.none(), until: Option.none() }]
    expect(partitionsOf(Option.none(), Option.none(), 4)).toEqual(whole)
    expect(partitionsOf(Option.some(at("2026-01-01T00:00:00Z")), Option.some(at("2026-01-01T00:00:02Z")), 4))
      .toEqual(whole)
    expect(partitionsOf(Option.some(at("2026-01-01T00:00:00Z")), Option.some(at("2026-02-01T00:00:00Z")), 1))
      .toEqual(whole)
  })

  it("of equal size: whole pages less one record each, the rest in the last", () => {
    expect(cutOffsets(20_000, 100, 8)).toEqual([2498, 4997, 7496, 9995, 12494, 14993, 17492])
    expect(cutOffsets(150, 100, 8)).toEqual([98])
    expect(cutOffsets(100, 100, 8)).toEqual([])
  })

  it("cut where the source's records fall, dropping cuts that do not move forward", () => {
    const parts = partitionsAt([at("2026-01-01T00:00:10Z"), at("2026-01-01T00:00:10.400Z"), at("2026-01-01T00:00:30Z")])
    expect(parts.map((p) => [
      Option.match(p.after, { onNone: () => null, onSome: (a) => `${a.cursor.toISOString()}|${a.key}` }),
      Option.match(p.until, { onNone: () => null, onSome: (u) => u.toISOString() })
    ])).toEqual([
      [null, "2026-01-01T00:00:10.000Z"],
      ["2026-01-01T00:00:11.000Z|", "2026-01-01T00:00:30.000Z"],
      ["2026-01-01T00:00:31.000Z|", null]
    ])
    expect(partitionsAt([])).toEqual([{ after: Option.none(), until: Option.none() }])
  })

  it("are analysed as the rows written cross a power of two, whatever the page size", () => {
    const analysed = (pageSize: number, pages: number) =>
      Array.from({ length: pages }, (_, i) => i + 1).filter((n) => crossesPowerOfTwo((n - 1) * pageSize, n * pageSize))
    expect(analysed(2000, 20)).toEqual([1, 2, 3, 5, 9, 17])
    expect(analysed(50, 400)).toEqual([21, 41, 82, 164, 328])
  })
})
