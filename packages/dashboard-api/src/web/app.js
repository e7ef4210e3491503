// The page's entry: find the token (`?token=`, else the one stored in this browser), then show one
// snapshot (the overview, and the incidents' risk at the overview's time), the dependency graph, and
// the runs, polled. A run that finishes refreshes the snapshot; so does the Refresh button.
import { makeApi } from "./api.js"
import { byId, dateTime, showError } from "./dom.js"
import { renderGraph, showRunStatuses } from "./graph.js"
import { makeIncidentsTable } from "./incidents.js"
import { renderOverview } from "./overview.js"
import { startRunsPanel } from "./runs.js"

const TOKEN_KEY = "tidemark.apiToken"

/** The token of a `?token=` link, taken out of the address bar (and history) once read. */
const tokenFromAddress = () => {
  const url = new URL(location.href)
  const token = url.searchParams.get("token")
  if (token === null) return null
  url.searchParams.delete("token")
  history.replaceState(null, "", url)
  return token.trim() || null
}

const showSignIn = (message) => {
  byId("dashboard").hidden = true
  for (const id of ["as-of-wrap", "refresh", "change-token"]) byId(id).hidden = true
  byId("sign-in").hidden = false
  byId("token-error").textContent = message ?? ""
  byId("token").focus()
}

const showDashboard = () => {
  byId("sign-in").hidden = true
  byId("dashboard").hidden = false
  for (const id of ["as-of-wrap", "refresh", "change-token"]) byId(id).hidden = false
}

/** Everything the page shows for one token. */
const openDashboard = async (token) => {
  const api = makeApi(token)
  let overview
  try {
    overview = await api.overview()
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      localStorage.removeItem(TOKEN_KEY)
      return showSignIn(`The server refused this token: ${error.message}`)
    }
    return showSignIn(`The dashboard could not be loaded: ${error.message}`)
  }
  localStorage.setItem(TOKEN_KEY, token)
  showDashboard()

  const state = { overview, plan: null, latestRun: null }
  const incidents = makeIncidentsTable(api)

  const showSnapshot = () => {
    const { orgId, asOf, freshness } = state.overview
    byId("org").textContent = `org ${orgId}`
    const time = byId("as-of")
    time.dateTime = asOf
    time.textContent = dateTime(asOf)
    renderOverview(state.overview)
    incidents.reload(asOf)
    if (state.plan) {
      renderGraph(state.plan, freshness)
      showRunStatuses(state.latestRun)
    }
  }

  const refresh = async () => {
    try {
      state.overview = await api.overview()
      showError("overview-error", null)
      showSnapshot()
    } catch (error) {
      showError("overview-error", error)
    }
  }

  showSnapshot()
  byId("refresh").addEventListener("click", refresh)
  api.graph().then(
    (plan) => {
      state.plan = plan
      renderGraph(plan, state.overview.freshness)
      showRunStatuses(state.latestRun)
    },
    (error) => showError("graph-error", error)
  )
  startRunsPanel(api, {
    onRunFinished: refresh,
    onLatestRun: (run) => {
      state.latestRun = run
      showRunStatuses(run)
    }
  })
}

// A new token starts the page afresh: no poller or listener of the old one survives.
byId("token-form").addEventListener("submit", (event) => {
  event.preventDefault()
  const token = byId("token").value.trim()
  if (token === "") return
  localStorage.setItem(TOKEN_KEY, token)
  location.reload()
})
byId("change-token").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY)
  location.reload()
})

const token = tokenFromAddress() ?? localStorage.getItem(TOKEN_KEY)
if (token) openDashboard(token)
else showSignIn()
