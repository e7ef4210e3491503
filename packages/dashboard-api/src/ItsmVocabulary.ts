/**
 * What the ITSM choice values mean to the dashboard: labels, which incident states are open, and the
 * SLA target of each priority. docs/domain.md states the same rules in prose; change both together.
 */

export const incidentStates: Readonly<Record<number, string>> = {
  1: "New",
  2: "In Progress",
  3: "On Hold",
  6: "Resolved",
  7: "Closed",
  8: "Canceled"
}

/** New, In Progress and On Hold: an incident someone still has to work on. */
export const OPEN_INCIDENT_STATES = [1, 2, 3] as const

export const isOpenIncidentState = (state: number | null): boolean =>
  state !== null && (OPEN_INCIDENT_STATES as ReadonlyArray<number>).includes(state)

export const priorities: Readonly<Record<number, string>> = {
  1: "Critical",
  2: "High",
  3: "Moderate",
  4: "Low",
  5: "Planning"
}

export const PRIORITIES = [1, 2, 3, 4, 5] as const

/** Hours from `opened_at` an open incident of each priority may stay open before it is past its SLA. */
export const slaTargetHours: Readonly<Record<number, number>> = { 1: 4, 2: 8, 3: 24, 4: 72, 5: 120 }

export const changeStates: Readonly<Record<number, string>> = {
  [-5]: "New",
  [-4]: "Assess",
  [-3]: "Authorize",
  [-2]: "Scheduled",
  [-1]: "Implement",
  0: "Review",
  3: "Closed",
  4: "Canceled"
}

/** A canceled change never touched its item: it is not a change "near" an incident. */
export const CANCELED_CHANGE_STATE = 4

/** Closed and Canceled changes are not going to happen: they are never "scheduled" or a collision. */
export const INACTIVE_CHANGE_STATES = [3, 4] as const

export const changeRisks: Readonly<Record<number, string>> = { 1: "Very High", 2: "High", 3: "Moderate", 4: "Low" }

/** High risk: `risk = 2` (High), and `1` (Very High) where an instance uses it. */
export const HIGH_RISKS = [1, 2] as const

export const eventSeverities: Readonly<Record<number, string>> = {
  0: "Clear",
  1: "Critical",
  2: "Major",
  3: "Minor",
  4: "Warning",
  5: "Info"
}

export const SEVERITIES = [0, 1, 2, 3, 4, 5] as const

export const CRITICAL_SEVERITY = 1

export const labelOf = (labels: Readonly<Record<number, string>>, value: number | null): string =>
  value === null ? "" : labels[value] ?? String(value)
