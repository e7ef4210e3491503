/**
 * A synthetic ITSM cache for the dashboard bench, written by set-based SQL (`INSERT … SELECT` over
 * `generate_series`) instead of through the page sink, which lands about 10,000 rows/s: a million
 * incidents through it would take minutes before the first request.
 *
 * The rows are what a full sync would have left behind. Every record is generated as its raw Table API
 * form (every value a string, `""` when empty, `YYYY-MM-DD HH:mm:ss` UTC times), and the typed
 * columns are cast from those same strings the way the adapter parses them; each chunk is one
 * statement that inserts the cache rows and inserts their `insert` rows in `sync_changes`, so the
 * dashboard's counter trigger keeps the counters exact exactly as it does for a sink page. A sample of
 * every table is then decoded by the entity's own `decodeRecord`, and the counters are checked against
 * a `DashboardCounters.rebuild`.
 *
 * Times are relative to the load time `T` (the overview's windows are "now"): incidents opened over
 * the last three years with a two-week backlog of open ones, changes from 60 days back to 30 days
 * ahead, events over the last 30 days. Incidents and events are written in time order, as a sync
 * keyset-paginated on `sys_updated_on` appends them, so recent rows share the table's last pages. Incidents and events cluster on a few hot configuration items,
 * as real monitoring data does.
 */
import { SqlClient } from "@effect/sql"
import type { EntityDefinition } from "@tidemark/adapter-core"
import { ItsmEntities } from "@tidemark/itsm-adapter"
import { CacheTables } from "@tidemark/sync-engine"
import { Effect } from "effect"
import * as DashboardCounters from "../src/DashboardCounters.js"
import { ADAPTER } from "../src/Records.js"

export interface Sizes {
  readonly sys_user_group: number
  readonly sys_user: number
  readonly cmdb_ci: number
  readonly change_request: number
  readonly problem: number
  readonly em_event: number
  readonly incident: number
}

/** ~10k users, 200 groups, 50k items, 20k changes, 10k problems, 500k events per million incidents. */
export const sizesFor = (incidents: number): Sizes => {
  const scale = incidents / 1_000_000
  const at = (full: number, min: number) => Math.max(min, Math.round(full * scale))
  return {
    sys_user_group: 200,
    sys_user: at(10_000, 500),
    cmdb_ci: at(50_000, 500),
    change_request: at(20_000, 200),
    problem: at(10_000, 100),
    em_event: at(500_000, 1_000),
    incident: incidents
  }
}

type EntityName = keyof Sizes

/** First hex digit of every generated sys_id, so the keys of different tables never meet. */
const KIND: Record<EntityName, number> = {
  sys_user_group: 1,
  sys_user: 2,
  cmdb_ci: 3,
  change_request: 4,
  problem: 5,
  em_event: 6,
  incident: 7
}

// ---------------------------------------------------------------------------------------------------
// SQL expression helpers. Everything below is built from constants of this file, never from input.

/** The generated row number (1-based) and the load time, in every generator. */
const I = "b.i"
const T = "$2::timestamptz"

/** The sys_id of row `n` of an entity: 32 lowercase hex characters, ascending with `n`. */
const sysId = (entity: EntityName, n: string) => `('${KIND[entity].toString(16)}' || lpad(to_hex((${n})::bigint), 31, '0'))`

/** A deterministic value in [0, 1) from the row number and a salt (a multiplicative hash). */
const unit = (salt: number) => `((((${I})::bigint * ${2_654_435_761 + salt * 40_503}) % 1000003) / 1000003.0::float8)`

/** A reference to a row of `entity` (of `size` rows), skewed to low row numbers by `skew` (1 = uniform). */
const ref = (entity: EntityName, size: number, salt: number, skew = 1) =>
  sysId(entity, `1 + floor(${size} * power(${unit(salt)}, ${skew}))::bigint % ${size}`)

const pick = (values: ReadonlyArray<string>, n: string) =>
  `(ARRAY[${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(", ")}])[1 + ((${n})::bigint % ${values.length})]`

/** ServiceNow's `YYYY-MM-DD HH:mm:ss` in UTC. */
const snTime = (ts: string) => `to_char((${ts}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')`

const seconds = (n: string) => `make_interval(secs => (${n})::float8)`
const HOUR = 3600
const DAY = 86_400

interface Generator {
  /** Intermediate values (SQL over `b.i` and `$2`), as columns of `b`; later ones may use earlier ones. */
  readonly base: ReadonlyArray<readonly [string, string]>
  /** Raw string value of each field (SQL over `b.*` and `$2`); unlisted fields are `""`. */
  readonly fields: Readonly<Record<string, string>>
}

const system = (created: string, updated: string, salt: number) => ({
  sys_created_on: snTime(created),
  sys_updated_on: snTime(updated),
  sys_mod_count: `(1 + ${I} % ${7 + salt})::text`,
  sys_created_by: `'bench.loader'`,
  sys_updated_by: pick(["admin", "bench.loader", "integration.user", "itil.agent"], `${I} * ${3 + salt}`)
})

const generators = (sizes: Sizes): Record<EntityName, Generator> => ({
  sys_user_group: {
    base: [["created", `${T} - ${seconds(`(400 + ${I}) * ${DAY}`)}`]],
    fields: {
      ...system("b.created", `b.created + interval '1 day'`, 1),
      name: `${pick(["Service Desk", "Network", "Database", "Linux Ops", "Windows Ops", "Storage", "Identity", "SAP Basis"], I)} || ' ' || ${I}`,
      description: `'Resolver group ' || ${I}`,
      manager: ref("sys_user", sizes.sys_user, 1),
      email: `'group' || ${I} || '@example.com'`,
      active: `CASE WHEN ${I} % 25 = 0 THEN 'false' ELSE 'true' END`,
      type: pick(["itil", "incident", "change", ""], I)
    }
  },
  sys_user: {
    base: [["created", `${T} - ${seconds(`(200 + ${I} % 900) * ${DAY}`)}`]],
    fields: {
      ...system("b.created", `b.created + interval '3 days'`, 2),
      user_name: `'user' || ${I}`,
      first_name: pick(["Ada", "Bob", "Chen", "Dara", "Eve", "Femi", "Gus", "Hana", "Ivo", "Jun"], I),
      last_name: pick(["Lovelace", "Okafor", "Nguyen", "Schmidt", "Garcia", "Ito", "Kowalski"], `${I} / 10`),
      name: `'User ' || ${I}`,
      email: `'user' || ${I} || '@example.com'`,
      title: pick(["Engineer", "Analyst", "Manager", "Technician", "Director", ""], I),
      active: `CASE WHEN ${I} % 20 = 0 THEN 'false' ELSE 'true' END`,
      vip: `CASE WHEN ${I} % 100 = 0 THEN 'true' ELSE 'false' END`,
      u_primary_group: ref("sys_user_group", sizes.sys_user_group, 2),
      location: pick(["London", "Lagos", "Austin", "Berlin", "Tokyo", "São Paulo"], I)
    }
  },
  cmdb_ci: {
    base: [["created", `${T} - ${seconds(`(100 + ${I} % 1500) * ${DAY}`)}`]],
    fields: {
      ...system("b.created", `b.created + interval '10 days'`, 3),
      name: `${pick(["app", "db", "web", "mq", "cache", "lb", "batch"], I)} || '-' || lpad(${I}::text, 6, '0')`,
      sys_class_name: pick(["cmdb_ci_app_server", "cmdb_ci_db_instance", "cmdb_ci_linux_server", "cmdb_ci_win_server", "cmdb_ci_service"], I),
      operational_status: `CASE WHEN ${I} % 33 = 0 THEN '2' ELSE '1' END`,
      environment: pick(["production", "production", "test", "development"], I),
      business_criticality: pick(["1 - most critical", "2 - somewhat critical", "3 - less critical", "4 - not critical"], `${I} / 3`),
      support_group: ref("sys_user_group", sizes.sys_user_group, 3),
      assigned_to: ref("sys_user", sizes.sys_user, 4),
      ip_address: `'10.' || (${I} / 65536 % 256) || '.' || (${I} / 256 % 256) || '.' || (${I} % 256)`,
      // A tree: every item but the first depends on the item of half its number.
      u_depends_on: `CASE WHEN ${I} = 1 THEN '' ELSE ${sysId("cmdb_ci", `${I} / 2`)} END`
    }
  },
  change_request: {
    base: [
      ["start", `date_trunc('minute', ${T} + ${seconds(`floor(${unit(5)} * ${90 * DAY}) - ${60 * DAY}`)})`],
      ["finish", `b.start + ${seconds(`(1 + ${I} % 8) * ${HOUR}`)}`],
      ["r", `floor(${unit(21)} * 100)::int`],
      [
        "state",
        `CASE WHEN b.start > ${T} THEN ${pick(["-5", "-4", "-3", "-2", "-2"], I)} WHEN b.finish > ${T} THEN '-1' ` +
        `WHEN ${I} % 20 = 0 THEN '4' WHEN b.finish > ${T} - interval '3 days' THEN '0' ELSE '3' END`
      ],
      ["created", `b.start - interval '7 days'`]
    ],
    fields: {
      ...system("b.created", `least(${T}, CASE WHEN b.state IN ('3', '4', '0') THEN b.finish + interval '2 hours' ELSE b.created + interval '1 day' END)`, 4),
      number: `'CHG' || lpad(${I}::text, 7, '0')`,
      short_description: `${pick(["Patch", "Upgrade", "Reboot", "Failover test", "Certificate renewal", "Schema migration"], I)} || ' of item ' || ${I} % 997`,
      state: "b.state",
      type: pick(["normal", "normal", "standard", "emergency"], I),
      risk: `CASE WHEN b.r < 5 THEN '1' WHEN b.r < 20 THEN '2' WHEN b.r < 60 THEN '3' ELSE '4' END`,
      impact: `(1 + ${I} % 3)::text`,
      priority: `(1 + ${I} * 7 % 4)::text`,
      cmdb_ci: ref("cmdb_ci", sizes.cmdb_ci, 6, 2),
      assignment_group: ref("sys_user_group", sizes.sys_user_group, 7),
      requested_by: ref("sys_user", sizes.sys_user, 8),
      start_date: snTime("b.start"),
      end_date: snTime("b.finish")
    }
  },
  problem: {
    base: [["opened", `${T} - ${seconds(`floor(${unit(9)} * ${730 * DAY})`)}`]],
    fields: {
      ...system("b.opened", `least(${T}, b.opened + interval '5 days')`, 5),
      number: `'PRB' || lpad(${I}::text, 7, '0')`,
      short_description: `'Recurring failure ' || ${I}`,
      state: pick(["101", "102", "103", "104", "106", "107"], I),
      priority: `(1 + ${I} % 5)::text`,
      cmdb_ci: ref("cmdb_ci", sizes.cmdb_ci, 10, 2),
      assignment_group: ref("sys_user_group", sizes.sys_user_group, 11),
      opened_at: snTime("b.opened")
    }
  },
  em_event: {
    base: [
      // Ascending with the row number, as a sync appends them: the last day's events are the table's
      // last pages (scattered over the whole table, the overview's 24-hour count read 16,000 pages).
      ["at", `${T} - ${seconds(`floor((1 - (${I} - 1) / ${sizes.em_event}.0) * ${30 * DAY} + ${unit(12)} * 60)`)}`],
      ["ci", `1 + floor(${sizes.cmdb_ci} * power(${unit(13)}, 3))::bigint % ${sizes.cmdb_ci}`],
      ["sev", `floor(${unit(22)} * 100)::int`]
    ],
    fields: {
      ...system("b.at", `least(${T}, b.at + interval '1 minute')`, 6),
      source: pick(["Dynatrace", "SolarWinds", "SCOM", "Nagios", "Prometheus"], I),
      node: `'host-' || b.ci`,
      type: pick(["Availability", "Performance", "Capacity", "Security"], `${I} / 5`),
      resource: pick(["CPU", "Memory", "Disk /var", "HTTP 5xx", "Latency", "Heartbeat"], `${I} / 7`),
      description: `'Threshold crossed on host-' || b.ci || ' (sample ' || ${I} || ')'`,
      severity: `CASE WHEN b.sev < 3 THEN '1' WHEN b.sev < 13 THEN '2' WHEN b.sev < 38 THEN '3' ` +
        `WHEN b.sev < 68 THEN '4' WHEN b.sev < 93 THEN '5' ELSE '0' END`,
      state: pick(["Ready", "Processed", "Processed", "Closed"], I),
      cmdb_ci: sysId("cmdb_ci", "b.ci"),
      time_of_event: snTime("b.at"),
      message_key: `'host-' || b.ci || ':' || ${I} % 6`
    }
  },
  incident: {
    base: [
      // Opened uniformly over three years (about 900 a day per million), in row order as a sync
      // appends them.
      ["age", `floor((1 - (${I} - 1) / ${sizes.incident}.0) * ${3 * 365 * DAY} + ${unit(14)} * 600)::bigint`],
      ["opened", `${T} - ${seconds("b.age")}`],
      ["r", `floor(${unit(23)} * 100)::int`],
      ["p", `floor(${unit(24)} * 100)::int`],
      // The backlog: 70% of the last two weeks' incidents still open, and 2% stragglers.
      ["open", `(b.age < ${14 * DAY} AND b.r < 70) OR b.r < 2`],
      [
        "state",
        `CASE WHEN b.open THEN (1 + ${I} % 3)::text WHEN b.r % 50 = 7 THEN '8' ` +
        `WHEN b.age < ${30 * DAY} THEN '6' ELSE '7' END`
      ],
      ["resolved", `CASE WHEN b.state IN ('6', '7') THEN least(${T}, b.opened + ${seconds(`(1 + ${I} % 72) * ${HOUR}`)}) END`],
      ["closed", `CASE WHEN b.state = '7' THEN least(${T}, b.resolved + interval '3 days') END`],
      [
        "updated",
        `CASE WHEN b.state = '7' THEN b.closed WHEN b.state = '6' THEN b.resolved ` +
        `WHEN b.state = '8' THEN least(${T}, b.opened + interval '1 hour') ` +
        `ELSE b.opened + ${seconds(`floor(b.age * (${I} * 53 % 100) / 100.0)`)} END`
      ]
    ],
    fields: {
      ...system("b.opened", "b.updated", 7),
      number: `'INC' || lpad(${I}::text, 7, '0')`,
      short_description: `${pick(["Mail relay slow", "VPN drops", "Login fails", "Disk full", "Report timeout", "Printer offline", "5xx on checkout"], I)} || ' on host-' || ${I} % 977 || ' (ticket ' || ${I} || ')'`,
      category: pick(["software", "hardware", "network", "database", "inquiry"], `${I} / 3`),
      state: "b.state",
      priority: `CASE WHEN b.p < 3 THEN '1' WHEN b.p < 15 THEN '2' WHEN b.p < 50 THEN '3' WHEN b.p < 85 THEN '4' ELSE '5' END`,
      impact: `(1 + ${I} % 3)::text`,
      urgency: `(1 + ${I} / 3 % 3)::text`,
      caller_id: ref("sys_user", sizes.sys_user, 15),
      cmdb_ci: ref("cmdb_ci", sizes.cmdb_ci, 16, 2),
      assignment_group: ref("sys_user_group", sizes.sys_user_group, 17),
      assigned_to: `CASE WHEN b.state = '1' THEN '' ELSE ${ref("sys_user", sizes.sys_user, 18)} END`,
      problem_id: `CASE WHEN ${I} % 20 = 0 THEN ${ref("problem", sizes.problem, 19)} ELSE '' END`,
      caused_by: `CASE WHEN ${I} % 50 = 0 THEN ${ref("change_request", sizes.change_request, 20)} ELSE '' END`,
      opened_at: snTime("b.opened"),
      resolved_at: `coalesce(${snTime("b.resolved")}, '')`,
      closed_at: `coalesce(${snTime("b.closed")}, '')`,
      reopen_count: `CASE WHEN ${I} % 97 = 0 THEN '2' WHEN ${I} % 23 = 0 THEN '1' ELSE '0' END`,
      made_sla: `CASE WHEN ${I} % 11 = 0 THEN 'false' WHEN b.open AND ${I} % 3 = 0 THEN '' ELSE 'true' END`
    }
  }
})

const ENTITIES: Record<EntityName, EntityDefinition.AnyEntityDefinition & { readonly decodeRecord: (raw: unknown) => { readonly _tag: string } }> = {
  sys_user_group: ItsmEntities.sysUserGroup,
  sys_user: ItsmEntities.sysUser,
  cmdb_ci: ItsmEntities.cmdbCi,
  change_request: ItsmEntities.changeRequest,
  problem: ItsmEntities.problem,
  em_event: ItsmEntities.emEvent,
  incident: ItsmEntities.incident
}

/** The typed column of a raw string, as the adapter's field parse makes it ("" is null but for text). */
const typed = (column: CacheTables.CacheColumn, value: string): string => {
  switch (column.sqlType) {
    case "text":
      return column.nullable ? `NULLIF(${value}, '')` : value
    case "bigint":
    case "double precision":
    case "numeric":
    case "boolean":
      return `NULLIF(${value}, '')::${column.sqlType}`
    case "timestamptz":
      return `(NULLIF(${value}, '') || '+00')::timestamptz`
    case "jsonb":
      throw new Error(`no generator for jsonb column ${column.name}`)
  }
}

/**
 * One statement per chunk, in the page sink's shape: the cache upsert and its change-log rows, so
 * the statement-level counter trigger runs on the chunk as it does on a page. `$1` org, `$2` load
 * time, `$3`/`$4` the chunk's first and last row number, `$5` the run id.
 */
const chunkStatement = (entity: EntityName, generator: Generator) => {
  const table = CacheTables.describe(ADAPTER, ENTITIES[entity])
  const fieldSql = (field: string) => `f.${JSON.stringify(field)}`
  const rawFields = [table.keyField, ...table.columns.map((column) => column.field)]
  for (const field of Object.keys(generator.fields)) {
    if (!rawFields.includes(field)) throw new Error(`${entity}: generated field ${field} is not in the row schema`)
  }
  // Each intermediate value is a column of a subquery over the previous one (the planner flattens
  // them), so a value can use those before it.
  const rows = generator.base.reduce(
    (from, [name, expr]) => `(SELECT b.*, ${expr} AS ${name} FROM ${from} b)`,
    "(SELECT s.i FROM generate_series($3::bigint, $4::bigint) AS s (i))"
  )
  const fields = [
    `${sysId(entity, I)} AS ${JSON.stringify(table.keyField)}`,
    ...table.columns.map((column) => `${generator.fields[column.field] ?? "''"} AS ${JSON.stringify(column.field)}`)
  ]
  const names = ["key", ...table.columns.map((column) => column.name), "raw", "source_updated_at"]
  const cursor = table.columns.find((column) => column.field === "sys_updated_on")!
  // jsonb_build_object takes at most 100 arguments: split into objects merged with ||.
  const pairs = rawFields.map((field) => `'${field}', ${fieldSql(field)}`)
  const rawParts: Array<string> = []
  for (let at = 0; at < pairs.length; at += 40) rawParts.push(`jsonb_build_object(${pairs.slice(at, at + 40).join(", ")})`)
  const values = [
    fieldSql(table.keyField),
    ...table.columns.map((column) => typed(column, fieldSql(column.field))),
    rawParts.join(" || "),
    typed(cursor, fieldSql("sys_updated_on"))
  ]
  return `
    WITH written AS (
      INSERT INTO ${JSON.stringify(table.name)} AS c (org_id, ${names.map((name) => JSON.stringify(name)).join(", ")})
      SELECT $1, ${values.join(",\n        ")}
      FROM (SELECT ${fields.join(",\n        ")} FROM ${rows} b) f
      RETURNING c.key, c.raw, c.source_updated_at
    )
    INSERT INTO sync_changes (org_id, adapter, entity, key, op, previous, current, source_updated_at, run_id)
    SELECT $1, '${ADAPTER}', '${entity}', key, 'insert', NULL, raw, source_updated_at, $5 FROM written`
}

interface IndexDefinition {
  readonly table: string
  readonly name: string
  readonly definition: string
}

/**
 * Drops the secondary indexes of `tables` (not those behind constraints) and returns their
 * definitions: building an index once over a loaded table is several times cheaper than keeping it
 * up to date row by row.
 */
const dropSecondaryIndexes = (tables: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const indexes = yield* sql<{ table: string; name: string; definition: string }>`
      SELECT i.tablename AS table, i.indexname AS name, i.indexdef AS definition FROM pg_indexes i
      WHERE i.schemaname = current_schema() AND i.tablename IN ${sql.in(tables)}
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`
    for (const index of indexes) yield* sql`DROP INDEX ${sql(index.name)}`
    return indexes as ReadonlyArray<IndexDefinition>
  })

const createIndexes = (indexes: ReadonlyArray<IndexDefinition>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(indexes, (index) =>
      sql.withTransaction(
        Effect.zipRight(sql`SET LOCAL maintenance_work_mem = '256MB'`, sql.unsafe(index.definition))
      ), { concurrency: 2, discard: true }))

export interface LoadReport {
  readonly rows: Readonly<Record<EntityName, number>>
  readonly seconds: { readonly insert: number; readonly indexes: number; readonly vacuum: number; readonly verify: number; readonly total: number }
  readonly countersExact: boolean
}

const CHUNK = 50_000

/**
 * Loads the cache of `orgId` (tables must exist: `DashboardMigrations.run`), with a run history and
 * watermarks as a full sync followed by deltas every five minutes would leave, then builds indexes,
 * vacuums and analyzes. `onProgress` receives one line per step.
 */
export const load = (options: {
  readonly orgId: string
  readonly sizes: Sizes
  readonly at: Date
  readonly onProgress: (line: string) => void
}): Effect.Effect<LoadReport, unknown, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { orgId, sizes } = options
    const at = options.at.toISOString()
    const clock = performance.now()
    const since = (start: number) => Math.round((performance.now() - start) / 100) / 10
    const generated = generators(sizes)
    const entities = Object.keys(sizes) as Array<EntityName>
    const tables = entities.map((entity) => CacheTables.tableName(ADAPTER, entity))
    const runId = "bench-full-load"

    const dropped = yield* dropSecondaryIndexes([...tables, "sync_changes"])
    yield* sql`INSERT INTO sync_runs (run_id, org_id, adapter, sync_type, status, requested_at, started_at)
      VALUES (${runId}, ${orgId}, ${ADAPTER}, 'full', 'running', ${at}::timestamptz - interval '2 hours',
        ${at}::timestamptz - interval '2 hours')`

    const statements = new Map(entities.map((entity) => [entity, chunkStatement(entity, generated[entity])]))
    const chunks = entities.flatMap((entity) =>
      Array.from({ length: Math.ceil(sizes[entity] / CHUNK) }, (_, c) => ({
        entity,
        from: c * CHUNK + 1,
        to: Math.min(sizes[entity], (c + 1) * CHUNK)
      }))
    )
    let done = 0
    const insertStart = performance.now()
    // Two at a time: one Postgres backend per core.
    yield* Effect.forEach(chunks, (chunk) =>
      Effect.gen(function*() {
        yield* sql.unsafe(statements.get(chunk.entity)!, [orgId, at, chunk.from, chunk.to, runId])
        done += chunk.to - chunk.from + 1
        if (chunk.to === sizes[chunk.entity] || chunk.to % 200_000 === 0) {
          options.onProgress(`${chunk.entity} ${chunk.to} rows (${done} in all, ${since(insertStart)} s)`)
        }
      }), { concurrency: 2, discard: true })
    const insertSeconds = since(insertStart)

    // A full run that finished, then a delta every five minutes for a week (the history the
    // overview's freshness walks), and each entity's watermark.
    const deltas = 7 * 24 * 12
    yield* sql`UPDATE sync_runs SET status = 'succeeded', finished_at = ${at}::timestamptz - interval '1 hour',
      requested_at = ${at}::timestamptz - interval '8 days', started_at = ${at}::timestamptz - interval '8 days'
      WHERE run_id = ${runId}`
    yield* sql`INSERT INTO sync_runs (run_id, org_id, adapter, sync_type, status, requested_at, started_at, finished_at)
      SELECT 'bench-delta-' || n, ${orgId}, ${ADAPTER}, 'delta', CASE WHEN n % 97 = 0 THEN 'partial' ELSE 'succeeded' END,
        ${at}::timestamptz - make_interval(mins => 5 * n), ${at}::timestamptz - make_interval(mins => 5 * n),
        ${at}::timestamptz - make_interval(mins => 5 * n) + interval '4 seconds'
      FROM generate_series(1, ${deltas}) AS n`
    yield* sql`INSERT INTO sync_entity_runs (run_id, entity, level, status, node, pages, records, started_at, finished_at)
      SELECT r.run_id, e.entity, e.level, CASE WHEN r.status = 'partial' AND e.entity = 'em_event' THEN 'failed' ELSE 'succeeded' END,
        'bench', 1, 0, r.started_at, r.finished_at
      FROM sync_runs r CROSS JOIN unnest(${entities}::text[]) WITH ORDINALITY AS e (entity, level)
      WHERE r.org_id = ${orgId}`
    for (const entity of entities) {
      yield* sql`INSERT INTO sync_watermarks (org_id, adapter, entity, watermark, inflight_run_id, last_full_at)
        SELECT ${orgId}, ${ADAPTER}, ${entity}, max(source_updated_at), ${runId}, ${at}::timestamptz - interval '1 hour'
        FROM ${sql(CacheTables.tableName(ADAPTER, entity))} WHERE org_id = ${orgId}`
    }

    const indexStart = performance.now()
    yield* createIndexes(dropped)
    const indexSeconds = since(indexStart)
    options.onProgress(`${dropped.length} indexes built (${indexSeconds} s)`)

    // A synced cache has been vacuumed by autovacuum: the visibility map is what makes the overview's
    // index-only scans index-only.
    const vacuumStart = performance.now()
    yield* Effect.forEach(
      [...tables, "sync_changes", "sync_runs", "sync_entity_runs", "sync_watermarks", "dashboard_counters"],
      (table) => sql`VACUUM (ANALYZE) ${sql(table)}`,
      { concurrency: 2, discard: true }
    )
    const vacuumSeconds = since(vacuumStart)
    options.onProgress(`vacuumed and analyzed (${vacuumSeconds} s)`)

    const verifyStart = performance.now()
    // The generated records are what the adapter would accept.
    for (const entity of entities) {
      const rows = yield* sql<{ raw: unknown }>`
        SELECT raw FROM ${sql(CacheTables.tableName(ADAPTER, entity))} WHERE org_id = ${orgId}
        ORDER BY key LIMIT 200`
      for (const row of rows) {
        const decoded = ENTITIES[entity].decodeRecord(row.raw)
        if (decoded._tag !== "Right") {
          return yield* Effect.fail(new Error(`generated ${entity} is not a valid record: ${JSON.stringify(decoded)}`))
        }
      }
    }
    // What the trigger kept equals what a rebuild counts from the rows.
    const snapshot = () =>
      sql<{ metric: string; dimension: string; value: string }>`
        SELECT metric, dimension, value::text AS value FROM dashboard_counters WHERE org_id = ${orgId} AND value <> 0
        ORDER BY metric, dimension`.pipe(Effect.map((rows) => JSON.stringify(rows)))
    const byTrigger = yield* snapshot()
    yield* DashboardCounters.rebuild
    const countersExact = byTrigger === (yield* snapshot())
    const verifySeconds = since(verifyStart)

    return {
      rows: sizes,
      seconds: {
        insert: insertSeconds,
        indexes: indexSeconds,
        vacuum: vacuumSeconds,
        verify: verifySeconds,
        total: since(clock)
      },
      countersExact
    }
  })

/** Row numbers to sys_ids of incidents, as generated (for the risk endpoint's rotating ids). */
export const incidentSysId = (n: number) => `${KIND.incident.toString(16)}${n.toString(16).padStart(31, "0")}`
