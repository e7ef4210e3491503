// The runs list with live progress: GET /api/v1/admin/runs every 2 s, and a button that starts a
// delta sync (POST /api/v1/admin/sync). Progress is the share of entity runs that have finished.
import { badge, byId, clockTime, count, dateTime, duration, elapsed, h, showError } from "./dom.js"

const POLL_MS = 2_000
const RUNS_SHOWN = 8
const ACTIVE = new Set(["pending", "running"])
const ENTITY_DONE = new Set(["succeeded", "failed", "skipped", "cancelled"])

const entityChip = (entityRun) =>
  h(
    "li",
    {
      class: "chip",
      "data-status": entityRun.status,
      title: [
        `${entityRun.entity}: ${entityRun.status}${entityRun.reason ? ` (${entityRun.reason})` : ""}`,
        `${entityRun.pages} pages, ${entityRun.records} records: ${entityRun.inserted} inserted, ` +
        `${entityRun.updated} updated, ${entityRun.unchanged} unchanged, ${entityRun.deleted} deleted`,
        entityRun.deadLetters > 0 ? `${entityRun.deadLetters} dead letters` : null,
        entityRun.error
      ].filter(Boolean).join("\n")
    },
    entityRun.entity,
    h("span", { class: "num" }, count(entityRun.records))
  )

const runItem = (run) => {
  const total = run.entityRuns.length || run.levels.flat().length
  const done = run.entityRuns.filter((entityRun) => ENTITY_DONE.has(entityRun.status)).length
  const records = run.entityRuns.reduce((sum, entityRun) => sum + entityRun.records, 0)
  const fill = h("span", { class: "fill" })
  fill.style.width = `${total === 0 ? 0 : (100 * done) / total}%`
  return h(
    "li",
    { class: "run", "data-testid": "run", "data-run-id": run.runId, "data-status": run.status },
    h(
      "div",
      { class: "run-head" },
      badge(run.status, { "data-testid": "run-status" }),
      h("span", { class: "sync-type" }, run.syncType),
      h("code", { class: "run-id" }, run.runId),
      h("span", { class: "spacer" }),
      h("span", { class: "note", title: dateTime(run.requestedAt) }, clockTime(run.requestedAt)),
      h("span", { class: "note" }, duration(elapsed(run.startedAt, run.finishedAt)))
    ),
    h(
      "div",
      { class: "progress", title: `${done} of ${total} entities finished` },
      h("span", { class: "bar" }, fill),
      h("span", { class: "note" }, `${done}/${total} entities, ${count(records)} records`)
    ),
    h("ul", { class: "chips" }, run.entityRuns.map(entityChip)),
    run.error ? h("p", { class: "error" }, run.error) : null
  )
}

/**
 * Starts polling. `onRunFinished` is called when a run seen active finishes (the caller refreshes
 * the snapshot); `onLatestRun` with the newest run on every poll (the graph shows its statuses).
 */
export const startRunsPanel = (api, { onRunFinished, onLatestRun }) => {
  const list = byId("run-list")
  const button = byId("start-delta")
  let active = new Set()
  let timer = null
  let stopped = false

  const poll = async () => {
    clearTimeout(timer)
    try {
      const runs = await api.runs(RUNS_SHOWN)
      showError("runs-error", null)
      list.replaceChildren(...runs.map(runItem))
      const nowActive = new Set(runs.filter((run) => ACTIVE.has(run.status)).map((run) => run.runId))
      if ([...active].some((runId) => !nowActive.has(runId))) onRunFinished()
      active = nowActive
      onLatestRun(runs[0] ?? null)
    } catch (error) {
      showError("runs-error", error.status === 403 ? new Error(`${error.message} (runs and syncs need an admin token)`) : error)
      if (error.status === 401 || error.status === 403) {
        stopped = true
        button.disabled = true
      }
    }
    // A poll the button started may overlap the timer's: keep one timer whichever finishes last.
    clearTimeout(timer)
    if (!stopped) timer = setTimeout(poll, POLL_MS)
  }

  button.addEventListener("click", async () => {
    button.disabled = true
    try {
      const run = await api.startSync("delta")
      active.add(run.runId)
      showError("runs-error", null)
    } catch (error) {
      showError("runs-error", error)
    } finally {
      button.disabled = stopped
    }
    if (!stopped) await poll()
  })

  poll()
  return {
    stop: () => {
      stopped = true
      clearTimeout(timer)
    }
  }
}
