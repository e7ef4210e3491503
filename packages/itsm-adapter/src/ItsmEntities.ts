/**
 * The ITSM entities: users, groups, configuration items, changes, problems, incidents and events, as
 * ServiceNow's Table API serves them. Their references give the sync order:
 * users ↔ groups (soft both ways, one edge dropped) → configuration items → changes, problems,
 * events (hard on the item) → incidents (hard on item and caller; soft on group, problem, change).
 */
import { Manifest } from "@tidemark/adapter-core"
import * as TableEntity from "./TableEntity.js"
import * as Field from "./TableField.js"

export const sysUserGroup = TableEntity.make({
  table: "sys_user_group",
  fields: {
    name: Field.text,
    description: Field.text,
    manager: Field.softReference("sys_user"),
    email: Field.text,
    active: Field.boolean,
    type: Field.text
  }
})

export const sysUser = TableEntity.make({
  table: "sys_user",
  fields: {
    user_name: Field.text,
    first_name: Field.text,
    last_name: Field.text,
    name: Field.text,
    email: Field.text,
    title: Field.text,
    active: Field.boolean,
    vip: Field.boolean,
    u_primary_group: Field.softReference("sys_user_group"),
    location: Field.text
  }
})

export const cmdbCi = TableEntity.make({
  table: "cmdb_ci",
  fields: {
    name: Field.text,
    sys_class_name: Field.text,
    operational_status: Field.integer,
    environment: Field.text,
    business_criticality: Field.text,
    support_group: Field.softReference("sys_user_group"),
    assigned_to: Field.softReference("sys_user"),
    ip_address: Field.text,
    // The sys_id of the item this one depends on. Kept as plain text rather than a reference: an
    // entity cannot be ordered before itself, so the edge would only ever be dropped with a warning.
    u_depends_on: Field.text
  }
})

export const changeRequest = TableEntity.make({
  table: "change_request",
  fields: {
    number: Field.text,
    short_description: Field.text,
    state: Field.integer,
    type: Field.text,
    risk: Field.integer,
    impact: Field.integer,
    priority: Field.integer,
    cmdb_ci: Field.hardReference("cmdb_ci"),
    assignment_group: Field.softReference("sys_user_group"),
    requested_by: Field.softReference("sys_user"),
    start_date: Field.dateTime,
    end_date: Field.dateTime
  }
})

export const problem = TableEntity.make({
  table: "problem",
  fields: {
    number: Field.text,
    short_description: Field.text,
    state: Field.integer,
    priority: Field.integer,
    cmdb_ci: Field.hardReference("cmdb_ci"),
    assignment_group: Field.softReference("sys_user_group"),
    opened_at: Field.dateTime
  }
})

export const incident = TableEntity.make({
  table: "incident",
  fields: {
    number: Field.text,
    short_description: Field.text,
    category: Field.text,
    state: Field.integer,
    priority: Field.integer,
    impact: Field.integer,
    urgency: Field.integer,
    caller_id: Field.hardReference("sys_user"),
    cmdb_ci: Field.hardReference("cmdb_ci"),
    assignment_group: Field.softReference("sys_user_group"),
    assigned_to: Field.softReference("sys_user"),
    problem_id: Field.softReference("problem"),
    caused_by: Field.softReference("change_request"),
    opened_at: Field.dateTime,
    resolved_at: Field.dateTime,
    closed_at: Field.dateTime,
    reopen_count: Field.integer,
    made_sla: Field.boolean
  }
})

export const emEvent = TableEntity.make({
  table: "em_event",
  fields: {
    source: Field.text,
    node: Field.text,
    type: Field.text,
    resource: Field.text,
    description: Field.text,
    severity: Field.integer,
    state: Field.text,
    cmdb_ci: Field.hardReference("cmdb_ci"),
    time_of_event: Field.dateTime,
    message_key: Field.text
  }
})

/** Declared parents first; the graph does not depend on this order except to break ties. */
export const itsmEntities = [sysUserGroup, sysUser, cmdbCi, changeRequest, problem, emEvent, incident] as const

export const itsmManifest = Manifest.unsafeMakeEntityManifest(itsmEntities)

export type ItsmEntity = (typeof itsmEntities)[number]
