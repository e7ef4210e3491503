import { hash4 } from "../Hash.js"
import type { GenContext, TableSpec } from "./TableSpec.js"
import { choice, pickFields, reference, string } from "./TableSpec.js"
import { CI_CLASS_LABELS, CI_CLASSES, CI_PREFIX, CI_ROLES } from "./Vocabulary.js"

const OPERATIONAL_STATUS = { "1": "Operational", "2": "Non-Operational", "3": "Repair in Progress", "6": "Retired" }
const ENVIRONMENTS = { production: "Production", test: "Test", development: "Development" }
const CRITICALITY = ["1 - most critical", "2 - somewhat critical", "3 - less critical", "4 - not critical"] as const

/** Class and name depend on (seed, index) only: they are display values and never change. */
export const ciClass = (seed: number, index: number): string =>
  CI_CLASSES[hash4(seed, 0xc1, index) % CI_CLASSES.length] as string

export const ciName = (seed: number, index: number): string => {
  const cls = ciClass(seed, index)
  const role = CI_ROLES[hash4(seed, 0xc2, index) % CI_ROLES.length] as string
  return `${CI_PREFIX[cls]}-${role}-${String(index + 1).padStart(5, "0")}`
}

const ipAddress = (n: number): string => `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${(n & 254) + 1}`

export const cmdbCi: TableSpec = {
  name: "cmdb_ci",
  fields: [
    string("name"),
    choice("sys_class_name", CI_CLASS_LABELS),
    choice("operational_status", OPERATIONAL_STATUS),
    choice("environment", ENVIRONMENTS),
    string("business_criticality"),
    reference("support_group", "sys_user_group"),
    reference("assigned_to", "sys_user"),
    string("ip_address"),
    reference("u_depends_on", "cmdb_ci")
  ],
  displayField: "name",
  display: (ctx: GenContext, index) => ctx.ciName(index),
  maxInitialMods: 8,
  base: (draw, state) => {
    const cls = ciClass(draw.ctx.seed, state.index)
    return {
      name: draw.ctx.ciName(state.index),
      sys_class_name: cls,
      operational_status: draw.weighted(["1", "2", "3", "6"], [85, 5, 5, 5]),
      environment: draw.weighted(["production", "test", "development"], [60, 25, 15]),
      business_criticality: draw.weighted(CRITICALITY, [10, 30, 40, 20]),
      support_group: draw.ref("sys_user_group", 0.95),
      assigned_to: draw.ref("sys_user", 0.8),
      ip_address: cls === "cmdb_ci_service" ? "" : ipAddress(draw.rng.next()),
      // Only lower indexes: the dependency chain of CIs stays acyclic.
      u_depends_on: state.index === 0 ? "" : draw.ref("cmdb_ci", 0.6, state.index)
    }
  },
  update: (draw, record) => {
    const fields = ["operational_status", "assigned_to", "support_group", "business_criticality", "ip_address"]
    for (const field of pickFields(draw, fields, 2)) {
      if (field === "operational_status") {
        record.operational_status = draw.weighted(["1", "2", "3", "6"], [70, 10, 15, 5])
      }
      else if (field === "assigned_to") record.assigned_to = draw.ref("sys_user", 0.9)
      else if (field === "support_group") record.support_group = draw.ref("sys_user_group")
      else if (field === "business_criticality") record.business_criticality = draw.pick(CRITICALITY)
      else if (record.sys_class_name !== "cmdb_ci_service") record.ip_address = ipAddress(draw.rng.next())
    }
  }
}
