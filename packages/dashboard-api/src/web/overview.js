// The overview cards, from GET /api/v1/dashboard/overview.
import { badge, bars, byId, count, dateTime, duration, elapsed, h, setText } from "./dom.js"

const HIGH_RISK_SHOWN = 5

const priorityClass = (item) => ({ "data-priority": item.value ?? "none" })

const renderIncidents = ({ incidents }) => {
  setText("incidents-open", count(incidents.open))
  setText("incidents-p1-open", count(incidents.p1Open))
  bars(byId("open-by-priority"), incidents.openByPriority, priorityClass)
  setText("incidents-past-sla", count(incidents.pastSla.total))
  setText("incidents-sla-flagged", count(incidents.pastSla.flagged))
  setText("incidents-sla-overdue", count(incidents.pastSla.overdue))
  bars(byId("past-sla-by-priority"), incidents.pastSla.byPriority, priorityClass)
}

const renderChanges = ({ asOf, changes }) => {
  setText("changes-scheduled", count(changes.scheduled))
  setText("changes-high-risk", count(changes.highRisk))
  const shown = changes.highRiskChanges.slice(0, HIGH_RISK_SHOWN)
  const items = shown.map((change) =>
    h(
      "li",
      { title: `${change.short_description}\nstarts ${dateTime(change.start_date)}` },
      h("span", { class: "number" }, change.number),
      h("span", { class: "when" }, `in ${duration(elapsed(asOf, change.start_date))}`),
      badge(change.risk_label.toLowerCase())
    )
  )
  if (changes.highRisk > shown.length) {
    items.push(h("li", { class: "more" }, `and ${count(changes.highRisk - shown.length)} more`))
  }
  byId("high-risk-changes").replaceChildren(...items)
}

const renderEvents = ({ events }) => {
  setText("events-total", count(events.total))
  bars(byId("events-by-severity"), events.bySeverity, (item) => ({ "data-severity": item.value }))
}

const renderFreshness = ({ freshness }) => {
  byId("freshness").replaceChildren(...freshness.map((entity) =>
    h(
      "tr",
      { "data-testid": "freshness-row", "data-entity": entity.entity },
      h("td", { class: "entity" }, entity.entity),
      h("td", { class: "num", "data-testid": "freshness-rows" }, count(entity.rows)),
      h("td", {}, entity.watermark ? dateTime(entity.watermark) : "never synced"),
      h("td", { class: "num", "data-testid": "freshness-lag" }, duration(entity.lagSeconds)),
      h(
        "td",
        {},
        entity.lastRun
          ? [
            badge(entity.lastRun.status, { "data-testid": "freshness-last-run" }),
            " ",
            h("span", { class: "note" }, `${entity.lastRun.syncType}, ${dateTime(entity.lastRun.finishedAt ?? entity.lastRun.startedAt)}`)
          ]
          : h("span", { class: "note" }, "no run yet")
      )
    )
  ))
}

/** Fills every card from one overview. */
export const renderOverview = (overview) => {
  renderIncidents(overview)
  renderChanges(overview)
  renderEvents(overview)
  renderFreshness(overview)
}
