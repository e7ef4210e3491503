// Small DOM and formatting helpers. Text always goes in as text nodes, never as HTML, so record
// fields from the source cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg"

const build = (element, attrs, children) => {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value)
    else element.setAttribute(key, value === true ? "" : String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    element.append(child instanceof Node ? child : String(child))
  }
  return element
}

/** An HTML element: `h("td", { class: "num" }, "42")`. */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children)

/** An SVG element, same shape as `h`. */
export const s = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children)

export const byId = (id) => document.getElementById(id)

/** Sets the text of the element with `data-testid="<testId>"`. */
export const setText = (testId, text) => {
  document.querySelector(`[data-testid="${testId}"]`).textContent = text
}

const numberFormat = new Intl.NumberFormat()
export const count = (n) => (n === null || n === undefined ? "—" : numberFormat.format(n))

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" })
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" })
export const dateTime = (iso) => (iso ? dateTimeFormat.format(new Date(iso)) : "—")
export const clockTime = (iso) => (iso ? timeFormat.format(new Date(iso)) : "—")

/** `93784` → `1d 2h`: the two largest units, enough to judge a lag at a glance. */
export const duration = (seconds) => {
  if (seconds === null || seconds === undefined) return "—"
  const units = [["d", 86_400], ["h", 3_600], ["m", 60], ["s", 1]]
  let rest = Math.max(0, Math.round(seconds))
  const parts = []
  for (const [unit, size] of units) {
    if (rest >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`)
      rest %= size
    }
    if (parts.length === 2) break
  }
  return parts.join(" ")
}

/** The seconds between two ISO times, or until now while `to` is null. */
export const elapsed = (from, to) => (from ? ((to ? Date.parse(to) : Date.now()) - Date.parse(from)) / 1000 : null)

/** A coloured label for a status or level (`succeeded`, `critical`, …); CSS colours it by value. */
export const badge = (value, attrs = {}) => h("span", { class: "badge", "data-value": value, ...attrs }, value)

/** A horizontal bar list: label, bar scaled to the largest count, count. */
export const bars = (list, items, attrs = () => ({})) => {
  const max = Math.max(1, ...items.map((item) => item.count))
  list.replaceChildren(...items.map((item) => {
    const fill = h("span", { class: "fill" })
    fill.style.width = `${(100 * item.count) / max}%`
    return h(
      "li",
      attrs(item),
      h("span", { class: "label" }, item.label),
      h("span", { class: "bar" }, fill),
      h("span", { class: "num" }, count(item.count))
    )
  }))
}

/** Shows a failure in a panel's error line; `null` clears it. */
export const showError = (id, error) => {
  byId(id).textContent = error ? (error.message ?? String(error)) : ""
}
