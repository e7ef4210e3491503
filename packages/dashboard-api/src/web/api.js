// The HTTP API under /api/v1, as the page uses it. Every call carries the bearer token; a failure
// becomes an `ApiError` with the status and the server's message (which says what is wrong).

export class ApiError extends Error {
  constructor(status, message) {
    super(message)
    this.name = "ApiError"
    this.status = status
  }
}

const messageOf = (status, text) => {
  try {
    const body = JSON.parse(text)
    if (body && typeof body.message === "string") return body.message
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim() || `HTTP ${status}`
}

/** A client of the API for one token. */
export const makeApi = (token) => {
  const request = async (method, path, { query = {}, body } = {}) => {
    const url = new URL(`/api/v1${path}`, location.origin)
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value))
    }
    const headers = { authorization: `Bearer ${token}` }
    if (body !== undefined) headers["content-type"] = "application/json"
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store"
    })
    const text = await response.text()
    if (!response.ok) throw new ApiError(response.status, messageOf(response.status, text))
    return JSON.parse(text)
  }
  return {
    overview: () => request("GET", "/dashboard/overview"),
    openIncidents: (limit, cursor) => request("GET", "/incidents", { query: { open: true, limit, cursor } }),
    incidentRisk: (id, asOf) => request("GET", `/incidents/${encodeURIComponent(id)}/risk`, { query: { asOf } }),
    runs: (limit) => request("GET", "/admin/runs", { query: { limit } }),
    startSync: (syncType) => request("POST", "/admin/sync", { body: { syncType } }),
    graph: () => request("GET", "/admin/graph")
  }
}
