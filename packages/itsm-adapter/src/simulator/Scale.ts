import type { TableName } from "./tables/TableSpec.js"

/** Tables holding generated data (sys_audit_delete only ever receives rows from deletes). */
export type DataTableName = Exclude<TableName, "sys_audit_delete">

export type TableCounts = { readonly [K in DataTableName]: number }

export type ScaleName = "demo" | "small" | "large"

export const SCALES: Readonly<Record<ScaleName, TableCounts>> = {
  demo: {
    sys_user: 200,
    sys_user_group: 20,
    cmdb_ci: 300,
    change_request: 200,
    problem: 100,
    incident: 2_000,
    em_event: 1_000
  },
  small: {
    sys_user: 1_000,
    sys_user_group: 50,
    cmdb_ci: 2_000,
    change_request: 2_000,
    problem: 1_000,
    incident: 20_000,
    em_event: 20_000
  },
  large: {
    sys_user: 10_000,
    sys_user_group: 200,
    cmdb_ci: 50_000,
    change_request: 50_000,
    problem: 20_000,
    incident: 1_000_000,
    em_event: 500_000
  }
}

export const resolveCounts = (scale: ScaleName, overrides: Partial<TableCounts> | undefined): TableCounts => ({
  ...SCALES[scale],
  ...overrides
})
