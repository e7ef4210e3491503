// The dependency graph from GET /api/v1/admin/graph: one column of boxes per level (a level runs
// after the ones to its left), an SVG curve per kept edge from parent to child, hard solid and soft
// dashed. Boxes show each entity's rows and lag from the overview and its status in the newest run.
import { byId, count, duration, h, s } from "./dom.js"

const BOX = { width: 160, height: 48 }
const GAP = { column: 96, row: 20 }
/** Space between a column's boxes and the first lane of edges passing it, and between lanes. */
const LANE = { first: 14, step: 9 }
const PAD = 20

/** Columns of boxes centred on the line y = 0 (the SVG's view box starts above the highest lane). */
const layout = (levels) => {
  const boxes = new Map()
  const columns = levels.map((level, column) => {
    const height = level.length * BOX.height + (level.length - 1) * GAP.row
    const x = PAD + column * (BOX.width + GAP.column)
    level.forEach((entity, row) => {
      boxes.set(entity, { column, x, y: -height / 2 + row * (BOX.height + GAP.row) })
    })
    return { x, top: -height / 2, bottom: height / 2, lanes: { above: 0, below: 0 } }
  })
  return { boxes, columns }
}

const centre = (box) => box.y + BOX.height / 2

/**
 * The points an edge passes: an edge between neighbouring columns goes straight across the gap; a
 * longer one passes every column between in a lane above or below its boxes (one lane per edge, so
 * edges never run through a box or on top of each other).
 */
const route = (edge, boxes, columns) => {
  const from = boxes.get(edge.from)
  const to = boxes.get(edge.to)
  const passed = columns.slice(from.column + 1, to.column)
  if (passed.length === 0) return []
  const used = (side) => Math.max(...passed.map((column) => column.lanes[side]))
  const middle = (centre(from) + centre(to)) / 2
  const side = middle < -1 ? "above" : middle > 1 ? "below" : used("above") <= used("below") ? "above" : "below"
  const lane = used(side)
  return passed.flatMap((column) => {
    column.lanes[side] = lane + 1
    const y = side === "above"
      ? column.top - LANE.first - lane * LANE.step
      : column.bottom + LANE.first + lane * LANE.step
    return [{ x: column.x - 4, y }, { x: column.x + BOX.width + 4, y }]
  })
}

/**
 * Where each edge leaves its parent and enters its child: the edges of one side of a box are spread
 * along it in the order of the points they head for, so curves into a busy box do not share a point.
 */
const ports = (edges, boxes, waypoints) => {
  const spread = (side, boxOf, towards) => {
    const bySide = new Map()
    for (const edge of edges) bySide.set(boxOf(edge), [...(bySide.get(boxOf(edge)) ?? []), edge])
    const at = new Map()
    for (const [entity, list] of bySide) {
      list.sort((a, b) => towards(a) - towards(b))
      const box = boxes.get(entity)
      list.forEach((edge, i) => {
        at.set(edge, {
          x: side === "right" ? box.x + BOX.width : box.x,
          y: box.y + (BOX.height * (i + 1)) / (list.length + 1)
        })
      })
    }
    return at
  }
  return {
    start: spread("right", (edge) => edge.from, (edge) => waypoints.get(edge)[0]?.y ?? centre(boxes.get(edge.to))),
    end: spread("left", (edge) => edge.to, (edge) => waypoints.get(edge).at(-1)?.y ?? centre(boxes.get(edge.from)))
  }
}

/** Straight along a lane, an S-curve with level ends across a gap. */
const pathThrough = (points) =>
  points.slice(1).reduce((d, b, i) => {
    const a = points[i]
    if (a.y === b.y) return `${d} L ${b.x} ${b.y}`
    const bend = Math.max(24, (b.x - a.x) / 2)
    return `${d} C ${a.x + bend} ${a.y}, ${b.x - bend} ${b.y}, ${b.x} ${b.y}`
  }, `M ${points[0].x} ${points[0].y}`)

const arrowHead = () =>
  s(
    "defs",
    {},
    s(
      "marker",
      { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" })
    )
  )

const edgePath = (edge, points) =>
  s(
    "path",
    {
      "data-testid": "graph-edge",
      "data-kind": edge.kind,
      class: `edge ${edge.kind}`,
      d: pathThrough(points),
      "stroke-dasharray": edge.kind === "soft" ? "6 5" : null,
      "marker-end": "url(#arrow)"
    },
    s("title", {}, `${edge.from} → ${edge.to}.${edge.field} (${edge.kind})`)
  )

const nodeBox = (entity, { x, y }, fresh) =>
  s(
    "g",
    { "data-testid": "graph-node", "data-entity": entity, class: "node", transform: `translate(${x} ${y})` },
    s("rect", { width: BOX.width, height: BOX.height, rx: 6 }),
    s("text", { x: BOX.width / 2, y: 20, class: "name" }, entity),
    s(
      "text",
      { x: BOX.width / 2, y: 37, class: "detail" },
      fresh ? `${count(fresh.rows)} rows · lag ${duration(fresh.lagSeconds)}` : "not synced"
    )
  )

/** Draws the plan; `freshness` is the overview's list (may be empty). */
export const renderGraph = (plan, freshness) => {
  const { levels, edges, droppedEdges } = plan.graph
  const { boxes, columns } = layout(levels)
  // Shorter edges first: they take the lanes nearest the boxes, so longer ones pass outside them.
  const span = (edge) => boxes.get(edge.to).column - boxes.get(edge.from).column
  const waypoints = new Map([...edges].sort((a, b) => span(a) - span(b)).map((edge) => [edge, route(edge, boxes, columns)]))
  const { start, end } = ports(edges, boxes, waypoints)
  const lines = edges.map((edge) => [edge, [start.get(edge), ...waypoints.get(edge), end.get(edge)]])
  const ys = [...columns.flatMap((column) => [column.top, column.bottom]), ...lines.flatMap(([, points]) => points.map((p) => p.y))]
  const top = Math.min(...ys) - PAD
  const width = levels.length * BOX.width + Math.max(0, levels.length - 1) * GAP.column + 2 * PAD
  const height = Math.max(...ys) + PAD - top
  const byEntity = new Map(freshness.map((entry) => [entry.entity, entry]))
  const svg = s(
    "svg",
    { viewBox: `0 ${top} ${width} ${height}`, width, height, role: "img", "aria-label": "Sync dependency graph" },
    arrowHead(),
    lines.map(([edge, points]) => edgePath(edge, points)),
    levels.flat().map((entity) => nodeBox(entity, boxes.get(entity), byEntity.get(entity)))
  )
  byId("graph-canvas").replaceChildren(svg)
  byId("dropped-edges").replaceChildren(...droppedEdges.map((edge) =>
    h("li", { title: edge.message }, `dropped: ${edge.from} → ${edge.to}.${edge.field} (${edge.reason})`)
  ))
}

/** Colours each box by its entity's status in `run` (the newest run), or clears it. */
export const showRunStatuses = (run) => {
  const statuses = new Map((run?.entityRuns ?? []).map((entityRun) => [entityRun.entity, entityRun.status]))
  for (const node of document.querySelectorAll('[data-testid="graph-node"]')) {
    const status = statuses.get(node.dataset.entity)
    if (status) node.dataset.status = status
    else delete node.dataset.status
  }
}
