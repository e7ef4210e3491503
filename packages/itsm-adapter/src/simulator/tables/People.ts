import type { GenContext, TableSpec } from "./TableSpec.js"
import { boolean, choice, Draw, pickFields, reference, string } from "./TableSpec.js"
import { CITIES, FIRST_NAMES, GROUP_DESCRIPTIONS, GROUP_NAMES, LAST_NAMES, TITLES } from "./Vocabulary.js"

/**
 * Names come from the index alone (a bijection onto first x last name pairs, then a numeric
 * suffix), so user names are unique and references can display them without materialising.
 */
const personName = (index: number): { first: string; last: string; suffix: string } => {
  const f = FIRST_NAMES.length
  const pairs = f * LAST_NAMES.length
  const a = index % f
  const b = Math.floor(index / f) % LAST_NAMES.length
  const round = Math.floor(index / pairs)
  return {
    first: FIRST_NAMES[a] as string,
    last: LAST_NAMES[(a + b) % LAST_NAMES.length] as string,
    suffix: round === 0 ? "" : String(round + 1)
  }
}

export const userName = (index: number): string => {
  const { first, last, suffix } = personName(index)
  return `${first}.${last}${suffix}`.toLowerCase()
}

const fullName = (index: number): string => {
  const { first, last, suffix } = personName(index)
  return suffix === "" ? `${first} ${last}` : `${first} ${last} ${suffix}`
}

export const groupName = (index: number): string => {
  const base = GROUP_NAMES[index % GROUP_NAMES.length] as string
  const round = Math.floor(index / GROUP_NAMES.length)
  return round === 0 ? base : `${base} ${round + 1}`
}

const bool = (draw: Draw, p: number): string => (draw.chance(p) ? "true" : "false")

export const sysUserGroup: TableSpec = {
  name: "sys_user_group",
  fields: [
    string("name"),
    string("description"),
    reference("manager", "sys_user"),
    string("email"),
    boolean("active"),
    choice("type", { itil: "itil", "": "" })
  ],
  displayField: "name",
  display: (_ctx: GenContext, index) => groupName(index),
  maxInitialMods: 4,
  base: (draw, state) => {
    const name = groupName(state.index)
    return {
      name,
      description: draw.pick(GROUP_DESCRIPTIONS),
      manager: draw.ref("sys_user", 0.9),
      email: `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}@example.com`,
      active: bool(draw, 0.95),
      type: draw.chance(0.7) ? "itil" : ""
    }
  },
  update: (draw, record) => {
    for (const field of pickFields(draw, ["description", "manager", "active"], 2)) {
      if (field === "description") record.description = draw.pick(GROUP_DESCRIPTIONS)
      else if (field === "manager") record.manager = draw.ref("sys_user")
      else record.active = bool(draw, 0.9)
    }
  }
}

export const sysUser: TableSpec = {
  name: "sys_user",
  fields: [
    string("user_name"),
    string("first_name"),
    string("last_name"),
    string("name"),
    string("email"),
    string("title"),
    boolean("active"),
    boolean("vip"),
    reference("u_primary_group", "sys_user_group"),
    string("location")
  ],
  displayField: "name",
  display: (_ctx, index) => fullName(index),
  maxInitialMods: 6,
  base: (draw, state) => {
    const { first, last } = personName(state.index)
    const login = userName(state.index)
    return {
      user_name: login,
      first_name: first,
      last_name: last,
      name: fullName(state.index),
      email: `${login}@example.com`,
      title: draw.pick(TITLES),
      active: bool(draw, 0.92),
      vip: bool(draw, 0.05),
      u_primary_group: draw.ref("sys_user_group", 0.95),
      location: draw.pick(CITIES)
    }
  },
  update: (draw, record) => {
    for (const field of pickFields(draw, ["title", "active", "vip", "u_primary_group", "location"], 2)) {
      if (field === "title") record.title = draw.pick(TITLES)
      else if (field === "active") record.active = bool(draw, 0.9)
      else if (field === "vip") record.vip = bool(draw, 0.05)
      else if (field === "u_primary_group") record.u_primary_group = draw.ref("sys_user_group")
      else record.location = draw.pick(CITIES)
    }
  }
}
