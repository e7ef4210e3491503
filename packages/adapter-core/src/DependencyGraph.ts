/**
 * The order in which entities are synced, derived from the references in a manifest. Edges go
 * parent -> child: the child's row references the parent, so the parent is synced first.
 *
 * Hard edges are facts (a child row cannot be stored without its parent), so a cycle among them is an
 * error. Soft edges only help, so one that would close a cycle is dropped, and reported as data for the
 * caller to log. The result is a list of levels: every entity of a level can run in parallel once the
 * levels before it are done.
 */
import { Effect, Either, Schema } from "effect"
import { type EntityManifest, names as manifestNames, referencesOf, UnknownEntityError } from "./Manifest.js"

export const Edge = Schema.Struct({
  /** The referenced entity, synced first. */
  from: Schema.String,
  /** The referencing entity. */
  to: Schema.String,
  /** The field of `to`'s row that holds the reference. */
  field: Schema.String,
  kind: Schema.Literal("hard", "soft")
})
export interface Edge extends Schema.Schema.Type<typeof Edge> {}

/**
 * - `self-reference`: an entity cannot be ordered before itself (its rows are ordered within one sync);
 * - `closes-cycle`: with the hard edges and the soft edges kept before it, it would close a cycle;
 * - `shadowed-by-hard`: a hard edge between the same two entities already gives the same order.
 */
export const DropReason = Schema.Literal("self-reference", "closes-cycle", "shadowed-by-hard")
export type DropReason = Schema.Schema.Type<typeof DropReason>

export const DroppedEdge = Schema.Struct({
  from: Schema.String,
  to: Schema.String,
  field: Schema.String,
  reason: DropReason,
  /** A readable warning naming the edge, ready to log or show. */
  message: Schema.String
})
export interface DroppedEdge extends Schema.Schema.Type<typeof DroppedEdge> {}

/** The graph as served over HTTP; `DependencyGraph` values are already of this shape. */
export const DependencyGraphJson = Schema.Struct({
  /** Manifest order. */
  entities: Schema.Array(Schema.String),
  /** Kept edges, hard and soft, in manifest order of the child, then field order. */
  edges: Schema.Array(Edge),
  /** Soft edges left out of the ordering, in the order they were considered. */
  droppedEdges: Schema.Array(DroppedEdge),
  /** Each level in manifest order; an entity depends only on entities of earlier levels. */
  levels: Schema.Array(Schema.Array(Schema.String))
})
export interface DependencyGraph extends Schema.Schema.Type<typeof DependencyGraphJson> {}

export class HardCycleError extends Schema.TaggedError<HardCycleError>()("HardCycleError", {
  /**
   * One closed walk per strongly connected component of the hard edges (and one per hard
   * self-reference), visiting every entity of the component; each edge's `to` is the next edge's `from`.
   */
  cycles: Schema.Array(Schema.Array(Edge))
}) {
  override get message(): string {
    const described = this.cycles.map((cycle) =>
      `${[cycle[0]!.from, ...cycle.map((edge) => edge.to)].join(" -> ")} ` +
      `(via ${cycle.map((edge) => `${edge.to}.${edge.field}`).join(", ")})`
    )
    return `hard dependency ${described.length === 1 ? "cycle" : "cycles"}: ${described.join("; ")}`
  }
}

// -----------------------------------------------------------------------------------------------
// graph algorithms on plain edge lists (graphs have tens of entities, so clarity beats indexes)
// -----------------------------------------------------------------------------------------------

const outgoing = (edges: ReadonlyArray<Edge>): Map<string, Array<Edge>> => {
  const out = new Map<string, Array<Edge>>()
  for (const edge of edges) {
    const list = out.get(edge.from)
    if (list === undefined) out.set(edge.from, [edge])
    else list.push(edge)
  }
  return out
}

/** Shortest non-empty path of edges from `start` to `goal`, staying inside `within` when given. */
const shortestPath = (
  out: ReadonlyMap<string, ReadonlyArray<Edge>>,
  start: string,
  goal: string,
  within?: ReadonlySet<string>
): ReadonlyArray<Edge> | undefined => {
  const via = new Map<string, Edge>()
  const queue: Array<string> = [start]
  for (let i = 0; i < queue.length; i++) {
    for (const edge of out.get(queue[i]!) ?? []) {
      if (via.has(edge.to) || (within !== undefined && !within.has(edge.to))) continue
      via.set(edge.to, edge)
      if (edge.to === goal) {
        const path: Array<Edge> = [edge]
        while (path[0]!.from !== start) path.unshift(via.get(path[0]!.from)!)
        return path
      }
      queue.push(edge.to)
    }
  }
  return undefined
}

/** Tarjan's strongly connected components, each and all listed in the order of `nodes`. */
const stronglyConnected = (
  nodes: ReadonlyArray<string>,
  out: ReadonlyMap<string, ReadonlyArray<Edge>>
): Array<Array<string>> => {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const components: Array<Set<string>> = []
  const visit = (node: string): void => {
    index.set(node, index.size)
    low.set(node, index.get(node)!)
    stack.push(node)
    onStack.add(node)
    for (const { to } of out.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to)
        low.set(node, Math.min(low.get(node)!, low.get(to)!))
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!))
      }
    }
    if (low.get(node) === index.get(node)) {
      const component = new Set<string>()
      let member: string
      do {
        member = stack.pop()!
        onStack.delete(member)
        component.add(member)
      } while (member !== node)
      components.push(component)
    }
  }
  for (const node of nodes) if (!index.has(node)) visit(node)
  // Tarjan emits components in reverse topological order; report them in manifest order instead.
  return components
    .map((component) => nodes.filter((node) => component.has(node)))
    .sort((a, b) => nodes.indexOf(a[0]!) - nodes.indexOf(b[0]!))
}

/** A closed walk through every entity of a component, starting from its first entity in manifest order. */
const closedWalk = (component: ReadonlyArray<string>, out: ReadonlyMap<string, ReadonlyArray<Edge>>) => {
  const within = new Set(component)
  const start = component[0]!
  const seen = new Set([start])
  const walk: Array<Edge> = []
  let current = start
  for (const goal of [...component.slice(1), start]) {
    if (goal !== start && seen.has(goal)) continue
    for (const edge of shortestPath(out, current, goal, within)!) {
      walk.push(edge)
      seen.add(edge.to)
    }
    current = goal
  }
  return walk
}

const hardCycles = (nodes: ReadonlyArray<string>, hardEdges: ReadonlyArray<Edge>): Array<Array<Edge>> => {
  const out = outgoing(hardEdges)
  const cycles: Array<Array<Edge>> = []
  for (const component of stronglyConnected(nodes, out)) {
    if (component.length > 1) cycles.push(closedWalk(component, out))
    for (const node of component) {
      const self = hardEdges.find((edge) => edge.from === node && edge.to === node)
      if (self !== undefined) cycles.push([self])
    }
  }
  return cycles
}

/** Longest-path layering (Kahn): an entity sits one level below its deepest parent. */
const layer = (nodes: ReadonlyArray<string>, edges: ReadonlyArray<Edge>): Array<Array<string>> => {
  const out = outgoing(edges)
  const waitingOn = new Map(nodes.map((node) => [node, 0]))
  for (const edge of edges) waitingOn.set(edge.to, waitingOn.get(edge.to)! + 1)
  const level = new Map<string, number>()
  const ready = nodes.filter((node) => waitingOn.get(node) === 0)
  for (const node of ready) level.set(node, 0)
  for (let i = 0; i < ready.length; i++) {
    const parent = ready[i]!
    for (const { to } of out.get(parent) ?? []) {
      level.set(to, Math.max(level.get(to) ?? 0, level.get(parent)! + 1))
      waitingOn.set(to, waitingOn.get(to)! - 1)
      if (waitingOn.get(to) === 0) ready.push(to)
    }
  }
  const levels: Array<Array<string>> = []
  for (const node of nodes) (levels[level.get(node)!] ??= []).push(node)
  return levels
}

const describeEdge = (edge: Pick<Edge, "from" | "to" | "field">) =>
  `${edge.from} -> ${edge.to} (field ${edge.to}.${edge.field})`

// -----------------------------------------------------------------------------------------------
// building and querying
// -----------------------------------------------------------------------------------------------

const assemble = (manifest: EntityManifest): Either.Either<DependencyGraph, HardCycleError> => {
  const entities = manifestNames(manifest)
  const all: Array<Edge> = entities.flatMap((child) =>
    referencesOf(manifest, child).map(({ field, kind, target }) => ({ from: target, to: child, field, kind }))
  )
  const hardEdges = all.filter((edge) => edge.kind === "hard")
  const cycles = hardCycles(entities, hardEdges)
  if (cycles.length > 0) return Either.left(new HardCycleError({ cycles }))

  // Soft edges are decided one by one against the hard edges and the soft edges kept so far, so the
  // outcome depends only on manifest order and field order.
  const out = outgoing(hardEdges)
  const edges: Array<Edge> = []
  const droppedEdges: Array<DroppedEdge> = []
  const drop = (edge: Edge, reason: DropReason, why: string) =>
    droppedEdges.push({ from: edge.from, to: edge.to, field: edge.field, reason,
      message: `dropped soft edge ${describeEdge(edge)}: ${why}` })
  for (const edge of all) {
    if (edge.kind === "hard") {
      edges.push(edge)
      continue
    }
    if (edge.from === edge.to) {
      drop(edge, "self-reference", "an entity cannot be ordered before itself")
      continue
    }
    const hard = hardEdges.find((other) => other.from === edge.from && other.to === edge.to)
    if (hard !== undefined) {
      drop(edge, "shadowed-by-hard", `the hard edge ${describeEdge(hard)} already orders them`)
      continue
    }
    const back = shortestPath(out, edge.to, edge.from)
    if (back !== undefined) {
      const cycle = [edge.from, edge.to, ...back.map((step) => step.to)].join(" -> ")
      drop(edge, "closes-cycle", `it would close the cycle ${cycle}`)
    } else {
      edges.push(edge)
      out.set(edge.from, [...(out.get(edge.from) ?? []), edge])
    }
  }
  return Either.right({ entities, edges, droppedEdges, levels: layer(entities, edges) })
}

/** Builds the graph of a manifest; fails when the hard references form a cycle. */
export const build = (manifest: EntityManifest): Effect.Effect<DependencyGraph, HardCycleError> =>
  Effect.suspend(() => assemble(manifest))

const distinctInOrder = (graph: DependencyGraph, names: Iterable<string>): ReadonlyArray<string> => {
  const set = new Set(names)
  return graph.entities.filter((entity) => set.has(entity))
}

/** Direct hard parents of `entity`, in manifest order; empty for an unknown name. */
export const hardParents = (graph: DependencyGraph, entity: string): ReadonlyArray<string> =>
  distinctInOrder(graph, graph.edges.filter((e) => e.to === entity && e.kind === "hard").map((e) => e.from))

/** Direct parents through kept soft edges, in manifest order; dropped soft edges are not included. */
export const softParents = (graph: DependencyGraph, entity: string): ReadonlyArray<string> =>
  distinctInOrder(graph, graph.edges.filter((e) => e.to === entity && e.kind === "soft").map((e) => e.from))

/**
 * Every entity that depends on `entity` through hard edges, directly or transitively, in manifest
 * order: the entities to skip when `entity` fails, since their rows could not be stored.
 */
export const dependants = (graph: DependencyGraph, entity: string): ReadonlyArray<string> => {
  const found = new Set<string>()
  const queue = [entity]
  for (let i = 0; i < queue.length; i++) {
    for (const edge of graph.edges) {
      if (edge.kind === "hard" && edge.from === queue[i] && !found.has(edge.to)) {
        found.add(edge.to)
        queue.push(edge.to)
      }
    }
  }
  return distinctInOrder(graph, found)
}

/**
 * The levels for a run of some entities only: the requested ones plus, transitively, their hard
 * parents (a child cannot be stored without them), but not their soft parents. Levels are recomputed
 * on the edges among those entities, so a subset is never deeper than it needs to be. An empty request
 * gives no levels.
 */
export const planFor = (
  graph: DependencyGraph,
  requested: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<ReadonlyArray<string>>, UnknownEntityError> =>
  Effect.suspend(() => {
    const known = new Set(graph.entities)
    const unknown = [...new Set(requested)].filter((name) => !known.has(name))
    if (unknown.length > 0) return Effect.fail(new UnknownEntityError({ unknown, known: graph.entities }))
    const included = new Set(requested)
    for (const name of included) for (const parent of hardParents(graph, name)) included.add(parent)
    const nodes = distinctInOrder(graph, included)
    return Effect.succeed(layer(nodes, graph.edges.filter((e) => included.has(e.from) && included.has(e.to))))
  })

/** A fresh plain copy, safe to serialise or hand to a caller that may mutate it. */
export const toJSON = (graph: DependencyGraph): typeof DependencyGraphJson.Type => ({
  entities: [...graph.entities],
  edges: graph.edges.map(({ from, to, field, kind }) => ({ from, to, field, kind })),
  droppedEdges: graph.droppedEdges.map(({ from, to, field, reason, message }) =>
    ({ from, to, field, reason, message })),
  levels: graph.levels.map((level) => [...level])
})

// Mermaid ids must be plain words, and a lowercase `end` closes a subgraph and breaks the chart.
const plainWord = /^[A-Za-z_][A-Za-z0-9_]*$/
const isPlainId = (name: string) => plainWord.test(name) && name !== "end"
const quoted = (text: string) => `"${text.replaceAll("\"", "#quot;")}"`

/**
 * Mermaid flowchart text: every entity as a node, hard edges `parent -->|field| child`, soft edges
 * dashed `parent -.->|field| child`, and each dropped soft edge as a `%%` comment line.
 */
export const toMermaid = (graph: DependencyGraph): string => {
  const ids = new Map(graph.entities.map((name, i) => [name, isPlainId(name) ? name : `n${i}`]))
  const label = (field: string) => (plainWord.test(field) ? field : quoted(field))
  const lines = [
    "graph TD",
    ...graph.entities.map((name) => `  ${isPlainId(name) ? name : `${ids.get(name)}[${quoted(name)}]`}`),
    ...graph.edges.map((edge) =>
      `  ${ids.get(edge.from)} ${edge.kind === "hard" ? "-->" : "-.->"}|${label(edge.field)}| ${ids.get(edge.to)}`
    ),
    ...graph.droppedEdges.map((dropped) => `  %% ${dropped.message}`)
  ]
  return `${lines.join("\n")}\n`
}
