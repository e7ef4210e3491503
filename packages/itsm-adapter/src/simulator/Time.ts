/**
 * ServiceNow's wire format for date-times: `YYYY-MM-DD HH:mm:ss` in UTC with whole seconds.
 * The simulator keeps every time as whole epoch seconds (a uint32 fits until 2106) and only
 * formats when a record is served.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/

const PAD2: ReadonlyArray<string> = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, "0"))

/**
 * Arithmetic instead of `Date#toISOString`: several date-times per served record make this a hot
 * path. Civil-from-days is Howard Hinnant's algorithm (proleptic Gregorian, UTC).
 */
export const formatDateTime = (epochSeconds: number): string => {
  const days = Math.floor(epochSeconds / 86_400)
  let rest = epochSeconds - days * 86_400
  const hour = Math.floor(rest / 3600)
  rest -= hour * 3600
  const minute = Math.floor(rest / 60)
  const second = rest - minute * 60
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  return `${year}-${PAD2[month]}-${PAD2[day]} ${PAD2[hour]}:${PAD2[minute]}:${PAD2[second]}`
}

/** Parses the wire format strictly (no time zone, no fractions); `undefined` when malformed. */
export const parseDateTime = (text: string): number | undefined => {
  const m = DATE_TIME.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number
  ]
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return undefined
  }
  const seconds = Date.UTC(year, month - 1, day, hour, minute, second) / 1000
  // Date.UTC rolls 2026-02-31 over into March; a literal that does not round-trip is not a date.
  return formatDateTime(seconds) === text ? seconds : undefined
}

/** Accepts a Date, the wire format or anything `Date.parse` understands (ISO 8601). */
export const toEpochSeconds = (value: Date | string | number): number | undefined => {
  if (typeof value === "number") return Number.isFinite(value) ? Math.floor(value) : undefined
  if (value instanceof Date) {
    const ms = value.getTime()
    return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000)
  }
  const wire = parseDateTime(value)
  if (wire !== undefined) return wire
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000)
}

/**
 * The simulator's clock: `baseTime` plus elapsed real time (in `realtime` mode) plus manual
 * advances, in whole seconds. It never goes backwards: the sorted index relies on every new
 * `sys_updated_on` being at least as late as every existing one.
 */
export class SimClock {
  private readonly startedAt = performance.now()
  private advanced = 0
  private last: number

  constructor(
    readonly baseTime: number,
    readonly mode: "realtime" | "manual"
  ) {
    this.last = baseTime
  }

  now(): number {
    const elapsed = this.mode === "realtime" ? Math.floor((performance.now() - this.startedAt) / 1000) : 0
    const candidate = this.baseTime + elapsed + this.advanced
    if (candidate > this.last) this.last = candidate
    return this.last
  }

  advance(seconds: number): number {
    this.advanced += Math.max(0, Math.floor(seconds))
    return this.now()
  }
}
