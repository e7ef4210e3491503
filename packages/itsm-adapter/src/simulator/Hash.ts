/**
 * Small, fast, deterministic hashing and pseudo-randomness. Every generated value is a pure
 * function of (seed, table, record index, version, salt), so nothing but a few numbers per
 * record has to be stored and the same options always give the same data byte for byte.
 */

/** murmur3's finaliser: a cheap bijective avalanche on 32 bits. */
export const mix32 = (value: number): number => {
  let h = value >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export const hash4 = (a: number, b: number, c = 0, d = 0): number => {
  let h = mix32(a ^ 0x9e3779b9)
  h = mix32((h ^ b) + 0x7f4a7c15)
  h = mix32((h ^ c) + 0x165667b1)
  h = mix32((h ^ d) + 0x27d4eb2f)
  return h
}

/** FNV-1a, to turn names (tables, seeds given as text) into 32-bit salts. */
export const hashString = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return mix32(h)
}

/** mulberry32: one uint32 of state, good enough for test data and very fast. */
export class Prng {
  private state: number

  constructor(seed: number) {
    this.state = seed >>> 0
  }

  reseed(seed: number): this {
    this.state = seed >>> 0
    return this
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }

  chance(p: number): boolean {
    return this.float() < p
  }

  pick<A>(items: ReadonlyArray<A>): A {
    return items[this.int(items.length)] as A
  }

  /** Picks by weight: `weights[i]` is the relative frequency of `items[i]`. */
  weighted<A>(items: ReadonlyArray<A>, weights: ReadonlyArray<number>): A {
    let total = 0
    for (const w of weights) total += w
    let r = this.float() * total
    for (let i = 0; i < items.length; i++) {
      r -= weights[i] as number
      if (r < 0) return items[i] as A
    }
    return items[items.length - 1] as A
  }
}

const HEX32 = /^[0-9a-f]{32}$/

const HEX_PAIRS: ReadonlyArray<string> = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))

// Table lookups: sys_ids are formatted for every reference of every served record.
const hex8 = (word: number): string =>
  (HEX_PAIRS[word >>> 24] as string) + (HEX_PAIRS[(word >>> 16) & 255] as string) +
  (HEX_PAIRS[(word >>> 8) & 255] as string) + (HEX_PAIRS[word & 255] as string)

/** A sys_id is 128 bits kept as four big-endian uint32 words, so hex order equals numeric order. */
export const idToHex = (words: Uint32Array, index: number): string => {
  const o = index * 4
  return hex8(words[o] as number) + hex8(words[o + 1] as number) + hex8(words[o + 2] as number) +
    hex8(words[o + 3] as number)
}

export const isSysId = (text: string): boolean => HEX32.test(text)

/** Parses a 32-hex sys_id into `out` (4 words); false when the text is not one. */
export const hexToId = (text: string, out: Uint32Array): boolean => {
  if (!HEX32.test(text)) return false
  for (let k = 0; k < 4; k++) out[k] = parseInt(text.slice(k * 8, k * 8 + 8), 16)
  return true
}

/** Compares the id of record `index` with the 4-word id `other` (-1, 0, 1). */
export const compareIdTo = (words: Uint32Array, index: number, other: Uint32Array): number => {
  const o = index * 4
  for (let k = 0; k < 4; k++) {
    const a = words[o + k] as number
    const b = other[k] as number
    if (a !== b) return a < b ? -1 : 1
  }
  return 0
}

export const compareIds = (words: Uint32Array, a: number, b: number): number => {
  const oa = a * 4
  const ob = b * 4
  for (let k = 0; k < 4; k++) {
    const x = words[oa + k] as number
    const y = words[ob + k] as number
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}
