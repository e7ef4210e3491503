import type { Draw, MutableRecord, RecordState, TableSpec } from "./TableSpec.js"
import { choice, dateTime, integer, numbered, pickFields, reference, string } from "./TableSpec.js"
import { boolean } from "./TableSpec.js"
import { formatDateTime } from "../Time.js"
import { CHANGE_SUBJECTS, INCIDENT_SUBJECTS, PROBLEM_SUBJECTS } from "./Vocabulary.js"

const DAY = 86_400
const PRIORITY_5 = { "1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning" }
const PRIORITY_4 = { "1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low" }
const IMPACT = { "1": "1 - High", "2": "2 - Medium", "3": "3 - Low" }

/** A configuration item reference plus a subject line that names it. */
const ciAndSubject = (draw: Draw, p: number, subjects: ReadonlyArray<string>): [string, string] => {
  const index = draw.chance(p) ? draw.refIndex("cmdb_ci") : -1
  const subject = draw.pick(subjects)
  if (index < 0) return ["", subject.replace("%ci%", "the service")]
  return [draw.ctx.sysId("cmdb_ci", index), subject.replace("%ci%", draw.ctx.ciName(index))]
}

const CHANGE_STATES = {
  "-5": "New", "-4": "Assess", "-3": "Authorize", "-2": "Scheduled", "-1": "Implement", "0": "Review",
  "3": "Closed", "4": "Canceled"
}
const CHANGE_FLOW = ["-5", "-4", "-3", "-2", "-1", "0", "3"]

export const changeRequest: TableSpec = {
  name: "change_request",
  fields: [
    string("number"), string("short_description"), choice("state", CHANGE_STATES),
    choice("type", { normal: "Normal", standard: "Standard", emergency: "Emergency" }),
    choice("risk", { "2": "High", "3": "Moderate", "4": "Low" }), choice("impact", IMPACT),
    choice("priority", PRIORITY_4), reference("cmdb_ci", "cmdb_ci"), reference("assignment_group", "sys_user_group"),
    reference("requested_by", "sys_user"), dateTime("start_date"), dateTime("end_date")
  ],
  displayField: "number",
  display: (_ctx, index) => numbered("CHG", index),
  maxInitialMods: 6,
  base: (draw, state, created) => {
    const [ci, subject] = ciAndSubject(draw, 0.95, CHANGE_SUBJECTS)
    // Scheduled from a week before to two weeks after the anchor, on five-minute boundaries.
    const anchor = Math.max(draw.ctx.baseTime, state.createdOn)
    const start = Math.floor((anchor - 7 * DAY + draw.int(21 * DAY)) / 300) * 300
    const end = start + 3600 + draw.int(8) * 1800
    const now = draw.ctx.baseTime
    const stateValue = created
      ? "-5"
      : end < now
      ? draw.weighted(["3", "0", "4"], [80, 12, 8])
      : start > now
      ? draw.weighted(["-5", "-4", "-3", "-2"], [15, 20, 25, 40])
      : "-1"
    return {
      number: numbered("CHG", state.index),
      short_description: subject,
      state: stateValue,
      type: draw.weighted(["normal", "standard", "emergency"], [60, 30, 10]),
      risk: draw.weighted(["2", "3", "4"], [15, 45, 40]),
      impact: draw.weighted(["1", "2", "3"], [15, 40, 45]),
      priority: draw.weighted(["1", "2", "3", "4"], [5, 20, 45, 30]),
      cmdb_ci: ci,
      assignment_group: draw.ref("sys_user_group"),
      requested_by: draw.ref("sys_user"),
      start_date: formatDateTime(start),
      end_date: formatDateTime(end)
    }
  },
  update: (draw, record) => {
    for (const field of pickFields(draw, ["state", "risk", "priority", "assignment_group"], 2)) {
      if (field === "state") {
        const at = CHANGE_FLOW.indexOf(record.state as string)
        if (at < 0 || at === CHANGE_FLOW.length - 1) continue
        record.state = draw.chance(0.05) ? "4" : (CHANGE_FLOW[at + 1] as string)
        draw.stageChanged = true
      } else if (field === "risk") record.risk = draw.weighted(["2", "3", "4"], [15, 45, 40])
      else if (field === "priority") record.priority = draw.weighted(["1", "2", "3", "4"], [5, 20, 45, 30])
      else record.assignment_group = draw.ref("sys_user_group")
    }
  }
}

const PROBLEM_STATES = {
  "101": "New", "102": "Assess", "103": "Root Cause Analysis", "104": "Fix in Progress", "106": "Resolved",
  "107": "Closed"
}
const PROBLEM_FLOW = ["101", "102", "103", "104", "106", "107"]

export const problem: TableSpec = {
  name: "problem",
  fields: [
    string("number"), string("short_description"), choice("state", PROBLEM_STATES), choice("priority", PRIORITY_5),
    reference("cmdb_ci", "cmdb_ci"), reference("assignment_group", "sys_user_group"), dateTime("opened_at")
  ],
  displayField: "number",
  display: (_ctx, index) => numbered("PRB", index),
  maxInitialMods: 8,
  base: (draw, state, created) => {
    const [ci, subject] = ciAndSubject(draw, 0.9, PROBLEM_SUBJECTS)
    return {
      number: numbered("PRB", state.index),
      short_description: subject,
      state: created ? "101" : draw.weighted(PROBLEM_FLOW, [20, 15, 20, 15, 15, 15]),
      priority: draw.weighted(["1", "2", "3", "4", "5"], [5, 15, 40, 30, 10]),
      cmdb_ci: ci,
      assignment_group: draw.ref("sys_user_group"),
      opened_at: formatDateTime(state.createdOn)
    }
  },
  update: (draw, record) => {
    for (const field of pickFields(draw, ["state", "priority", "assignment_group"], 2)) {
      if (field === "state") {
        const at = PROBLEM_FLOW.indexOf(record.state as string)
        if (at < 0 || at === PROBLEM_FLOW.length - 1) continue
        record.state = PROBLEM_FLOW[at + 1] as string
        draw.stageChanged = true
      } else if (field === "priority") record.priority = draw.weighted(["1", "2", "3", "4", "5"], [5, 15, 40, 30, 10])
      else record.assignment_group = draw.ref("sys_user_group")
    }
  }
}

const INCIDENT_STATES = {
  "1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"
}
const CATEGORIES = {
  software: "Software", hardware: "Hardware", network: "Network", database: "Database", inquiry: "Inquiry / Help"
}

/** resolved_at and closed_at follow the state; stageOn is when the state last changed. */
const stampIncident = (draw: Draw, record: MutableRecord, state: RecordState): void => {
  const s = record.state
  if (s === "6") {
    record.resolved_at = formatDateTime(state.stageOn)
    record.closed_at = ""
  } else if (s === "7") {
    if (record.resolved_at === "") {
      const open = Math.max(0, state.stageOn - state.createdOn)
      record.resolved_at = formatDateTime(state.stageOn - draw.int(Math.min(open, 5 * DAY) + 1))
    }
    record.closed_at = formatDateTime(state.stageOn)
  } else {
    record.resolved_at = ""
    record.closed_at = ""
  }
}

/** ServiceNow's default priority matrix: impact and urgency of 1 make a P1; few incidents are. */
const priorityOf = (impact: string, urgency: string): string =>
  String(Math.min(5, Number(impact) + Number(urgency) - 1))

export const incident: TableSpec = {
  name: "incident",
  fields: [
    string("number"), string("short_description"), choice("category", CATEGORIES), choice("state", INCIDENT_STATES),
    choice("priority", PRIORITY_5), choice("impact", IMPACT), choice("urgency", IMPACT),
    reference("caller_id", "sys_user"), reference("cmdb_ci", "cmdb_ci"),
    reference("assignment_group", "sys_user_group"),
    reference("assigned_to", "sys_user"), reference("problem_id", "problem"), reference("caused_by", "change_request"),
    dateTime("opened_at"), dateTime("resolved_at"), dateTime("closed_at"), integer("reopen_count"), boolean("made_sla")
  ],
  displayField: "number",
  display: (_ctx, index) => numbered("INC", index),
  maxInitialMods: 8,
  base: (draw, state, created) => {
    const [ci, subject] = ciAndSubject(draw, 0.9, INCIDENT_SUBJECTS)
    const stateValue = created ? "1" : draw.weighted(["1", "2", "3", "6", "7", "8"], [25, 35, 10, 12, 15, 3])
    const impact = draw.weighted(["1", "2", "3"], [10, 35, 55])
    const urgency = draw.weighted(["1", "2", "3"], [10, 35, 55])
    const record: MutableRecord = {
      number: numbered("INC", state.index),
      short_description: subject,
      category: draw.weighted(["software", "hardware", "network", "database", "inquiry"], [35, 20, 20, 10, 15]),
      state: stateValue,
      priority: priorityOf(impact, urgency),
      impact,
      urgency,
      caller_id: draw.ref("sys_user"),
      cmdb_ci: ci,
      assignment_group: draw.ref("sys_user_group", 0.97),
      assigned_to: draw.ref("sys_user", stateValue === "1" ? 0.3 : 0.9),
      problem_id: draw.ref("problem", 0.1),
      caused_by: draw.ref("change_request", 0.1),
      opened_at: formatDateTime(state.createdOn),
      resolved_at: "",
      closed_at: "",
      reopen_count: draw.chance(0.05) ? "1" : "0",
      made_sla: draw.chance(0.9) ? "true" : "false"
    }
    stampIncident(draw, record, state)
    return record
  },
  update: (draw, record, state) => {
    for (const field of pickFields(draw, ["state", "assignment", "impact", "made_sla"], 2)) {
      if (field === "state") {
        const from = record.state
        const to = from === "1"
          ? (draw.chance(0.05) ? "8" : "2")
          : from === "2"
          ? (draw.chance(0.2) ? "3" : "6")
          : from === "3"
          ? "2"
          : from === "6"
          ? (draw.chance(0.15) ? "2" : "7")
          : from
        if (to === from) continue
        if (from === "6" && to === "2") record.reopen_count = String(Number(record.reopen_count) + 1)
        if (to === "2" && record.assigned_to === "") record.assigned_to = draw.ref("sys_user")
        record.state = to
        draw.stageChanged = true
        stampIncident(draw, record, state)
      } else if (field === "assignment") {
        record.assignment_group = draw.ref("sys_user_group")
        record.assigned_to = draw.ref("sys_user", 0.9)
      } else if (field === "impact") {
        record.impact = draw.weighted(["1", "2", "3"], [10, 35, 55])
        record.urgency = draw.weighted(["1", "2", "3"], [10, 35, 55])
        record.priority = priorityOf(record.impact, record.urgency)
      } else record.made_sla = draw.chance(0.85) ? "true" : "false"
    }
  }
}
