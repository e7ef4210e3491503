// The open incidents table: pages of GET /api/v1/incidents?open=true, each row with its risk from
// GET /api/v1/incidents/{id}/risk measured at the overview's time, so the whole page is one snapshot.
import { badge, byId, dateTime, h, showError } from "./dom.js"

/** Rows per page; each row costs one risk request, so a page stays small. */
const PAGE_SIZE = 20

const factorsText = (risk) =>
  risk.factors.map((factor) => `${factor.factor}: ${factor.points}/${factor.maxPoints} (${factor.rule})`).join("\n")

const row = (incident) =>
  h(
    "tr",
    { "data-testid": "incident-row", "data-sys-id": incident.sys_id, "data-number": incident.number },
    h("td", { class: "number" }, incident.number),
    h("td", { class: "description" }, incident.short_description),
    h("td", {}, badge(incident.priority_label.toLowerCase(), { "data-priority": incident.priority ?? "none" })),
    h("td", {}, incident.state_label),
    h("td", { class: "when" }, dateTime(incident.opened_at)),
    h("td", { class: "num score", "data-testid": "risk-score" }),
    h("td", { "data-testid": "risk-level" })
  )

const fillRisk = (tr, risk) => {
  const score = tr.querySelector('[data-testid="risk-score"]')
  score.textContent = String(risk.score)
  score.title = factorsText(risk)
  tr.querySelector('[data-testid="risk-level"]').replaceChildren(badge(risk.level))
  tr.dataset.risk = "loaded"
}

/**
 * The table's state: `reload` shows the first page again for a new snapshot time, `more` appends the
 * next page. The section's `data-state` is `loaded` once every shown row has its risk.
 */
export const makeIncidentsTable = (api) => {
  const section = byId("incidents")
  const body = byId("incident-rows")
  const more = byId("more-incidents")
  let asOf = null
  let cursor = null
  let generation = 0

  const loadPage = async (pageCursor) => {
    const current = generation
    section.dataset.state = "loading"
    more.disabled = true
    showError("incidents-error", null)
    try {
      const page = await api.openIncidents(PAGE_SIZE, pageCursor)
      if (current !== generation) return
      const rows = page.items.map((incident) => [incident, row(incident)])
      body.append(...rows.map(([, tr]) => tr))
      cursor = page.nextCursor
      more.hidden = cursor === null
      await Promise.all(rows.map(async ([incident, tr]) => {
        try {
          const risk = await api.incidentRisk(incident.sys_id, asOf)
          if (current === generation) fillRisk(tr, risk)
        } catch (error) {
          const score = tr.querySelector('[data-testid="risk-score"]')
          tr.dataset.risk = "failed"
          score.textContent = "?"
          score.title = error.message
        }
      }))
      if (current === generation) section.dataset.state = "loaded"
    } catch (error) {
      if (current !== generation) return
      section.dataset.state = "failed"
      showError("incidents-error", error)
    } finally {
      more.disabled = false
    }
  }

  more.addEventListener("click", () => cursor !== null && loadPage(cursor))

  return {
    reload: (snapshotAsOf) => {
      generation += 1
      asOf = snapshotAsOf
      cursor = null
      body.replaceChildren()
      more.hidden = true
      return loadPage(undefined)
    }
  }
}
