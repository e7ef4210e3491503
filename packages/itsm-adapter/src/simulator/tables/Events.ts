import type { TableSpec } from "./TableSpec.js"
import { choice, dateTime, pickFields, reference, string } from "./TableSpec.js"
import { formatDateTime } from "../Time.js"
import { EVENT_RESOURCES, EVENT_SOURCES, EVENT_TYPES } from "./Vocabulary.js"

const SEVERITY = { "0": "Clear", "1": "Critical", "2": "Major", "3": "Minor", "4": "Warning", "5": "Info" }
const EVENT_STATES = { Ready: "Ready", Processed: "Processed", Error: "Error", Ignored: "Ignored" }

export const emEvent: TableSpec = {
  name: "em_event",
  fields: [
    string("source"), string("node"), string("type"), string("resource"), string("description"),
    choice("severity", SEVERITY), choice("state", EVENT_STATES), reference("cmdb_ci", "cmdb_ci"),
    dateTime("time_of_event"), string("message_key")
  ],
  // Events have no number; their message key is what operators recognise.
  displayField: "message_key",
  maxInitialMods: 3,
  base: (draw, state, created) => {
    const ciIndex = draw.chance(0.85) ? draw.refIndex("cmdb_ci") : -1
    const node = ciIndex < 0 ? `host-${draw.int(5000)}` : draw.ctx.ciName(ciIndex)
    const source = draw.pick(EVENT_SOURCES)
    const type = draw.pick(EVENT_TYPES)
    const resource = draw.pick(EVENT_RESOURCES)
    const severity = draw.weighted(["0", "1", "2", "3", "4", "5"], [10, 5, 15, 25, 25, 20])
    return {
      source,
      node,
      type,
      resource,
      description: `${type} ${SEVERITY[severity as keyof typeof SEVERITY].toLowerCase()} on ${node} (${resource})`,
      severity,
      state: created ? "Ready" : draw.weighted(["Ready", "Processed", "Error", "Ignored"], [20, 65, 5, 10]),
      cmdb_ci: ciIndex < 0 ? "" : draw.ctx.sysId("cmdb_ci", ciIndex),
      time_of_event: formatDateTime(state.createdOn - draw.int(120)),
      message_key: `${source}:${node}:${type}:${resource}`
    }
  },
  update: (draw, record) => {
    for (const field of pickFields(draw, ["state", "severity"], 2)) {
      if (field === "state") {
        if (record.state !== "Ready") continue
        record.state = draw.weighted(["Processed", "Error", "Ignored"], [80, 5, 15])
        draw.stageChanged = true
      } else record.severity = draw.weighted(["0", "1", "2", "3", "4", "5"], [30, 5, 15, 20, 20, 10])
    }
  }
}

/** Rows are appended by deletes; their content lives in the data set's audit log. */
export const sysAuditDelete: TableSpec = {
  name: "sys_audit_delete",
  fields: [string("tablename"), string("documentkey")],
  displayField: "documentkey",
  display: (ctx, index) => ctx.auditEntry(index).documentkey,
  maxInitialMods: 0,
  readOnly: true,
  createdIsUpdated: true,
  base: (draw, state) => {
    const entry = draw.ctx.auditEntry(state.index)
    return { tablename: entry.tablename, documentkey: entry.documentkey }
  },
  update: () => {}
}
