import type { Dataset } from "./Dataset.js"
import type { FieldSpec, MutableRecord, TableName } from "./tables/TableSpec.js"

export type DisplayMode = "false" | "true" | "all"

export interface RenderOptions {
  /** The fields to render, in order (`sysparm_fields`, or every field). */
  readonly fields: ReadonlyArray<FieldSpec>
  /** No projection: `fields` is every field of the table, in the order records are built. */
  readonly allFields: boolean
  readonly display: DisplayMode
  readonly excludeReferenceLink: boolean
  /** Base URL for reference links: `<base>/api/now/table/<target>/<sys_id>`. */
  readonly baseUrl: string
}

export type RenderedRecord = Record<string, unknown>

/**
 * Shapes a raw record the way the Table API answers: raw values, display values or both, and
 * reference fields as `{link, value}` unless links are excluded. An empty reference is `""`
 * (or an empty pair with `display_value=all`), never a link to nothing.
 */
export const renderRecord = (
  dataset: Dataset,
  raw: MutableRecord,
  options: RenderOptions
): RenderedRecord => {
  const { display, excludeReferenceLink: noLink } = options
  // What a sync asks for: the raw record already has exactly this shape, so skip the copy.
  if (display === "false" && noLink && options.allFields) return raw
  const out: RenderedRecord = {}
  for (const field of options.fields) {
    const value = raw[field.name] ?? ""
    const kind = field.kind
    if (kind._tag === "reference") {
      const link = value === "" || noLink ? undefined : `${options.baseUrl}/api/now/table/${kind.target}/${value}`
      if (display === "false") {
        out[field.name] = link === undefined ? value : { link, value }
        continue
      }
      const shown = value === "" ? "" : referenceDisplay(dataset, kind.target, value)
      if (display === "true") out[field.name] = link === undefined ? shown : { display_value: shown, link }
      else {
        out[field.name] = link === undefined ? { display_value: shown, value } : { display_value: shown, value, link }
      }
      continue
    }
    if (display === "false") {
      out[field.name] = value
      continue
    }
    const shown = kind._tag === "choice" ? (kind.labels[value] ?? value) : value
    out[field.name] = display === "true" ? shown : { display_value: shown, value }
  }
  return out
}

const referenceDisplay = (dataset: Dataset, target: TableName, sysId: string): string =>
  dataset.displayOf(target, dataset.store(target).findById(sysId))

/**
 * How a record marked invalid breaks the schema when served: an unparseable cursor, or no
 * sys_id at all when the cursor was not asked for.
 */
export const corrupt = (record: RenderedRecord): RenderedRecord => {
  if ("sys_updated_on" in record) return { ...record, sys_updated_on: "not-a-date" }
  const rest = { ...record }
  delete rest.sys_id
  return rest
}
