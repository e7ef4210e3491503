import { cmdbCi } from "./Cmdb.js"
import { emEvent, sysAuditDelete } from "./Events.js"
import { sysUser, sysUserGroup } from "./People.js"
import type { FieldSpec, TableName, TableSpec } from "./TableSpec.js"
import { dateTime, integer, string } from "./TableSpec.js"
import { changeRequest, incident, problem } from "./Tasks.js"

export const SPECS: Readonly<Record<TableName, TableSpec>> = {
  sys_user_group: sysUserGroup,
  sys_user: sysUser,
  cmdb_ci: cmdbCi,
  change_request: changeRequest,
  problem,
  incident,
  em_event: emEvent,
  sys_audit_delete: sysAuditDelete
}

export const SYSTEM_FIELDS: ReadonlyArray<FieldSpec> = [
  string("sys_id"),
  dateTime("sys_created_on"),
  dateTime("sys_updated_on"),
  integer("sys_mod_count"),
  string("sys_created_by"),
  string("sys_updated_by")
]

/** A table's fields in the order records are rendered, with a lookup by name. */
export interface TableFields {
  readonly list: ReadonlyArray<FieldSpec>
  readonly byName: ReadonlyMap<string, FieldSpec>
}

const build = (spec: TableSpec): TableFields => {
  const list = [SYSTEM_FIELDS[0] as FieldSpec, ...spec.fields, ...SYSTEM_FIELDS.slice(1)]
  return { list, byName: new Map(list.map((field) => [field.name, field])) }
}

const FIELDS = new Map<TableName, TableFields>(
  (Object.keys(SPECS) as Array<TableName>).map((name) => [name, build(SPECS[name])])
)

export const fieldsOf = (table: TableName): TableFields => FIELDS.get(table) as TableFields
