/**
 * References between entities, declared as annotations on the fields of a cache-row schema, so that
 * the dependency graph is derived from the schemas and never written twice.
 */
import { Option, Schema, SchemaAST } from "effect"

export const ReferenceAnnotationId: unique symbol = Symbol.for("@tidemark/adapter-core/Reference")

/**
 * `hard`: the child cannot be stored without the parent (a missing parent is fetched by key first).
 * `soft`: ordering that helps (fewer dangling ids on screen) but never blocks.
 */
export type ReferenceKind = "hard" | "soft"

export interface ReferenceSpec {
  readonly target: string
  readonly kind: ReferenceKind
}

/** A reference found on a field of an entity's row schema. */
export interface FieldReference extends ReferenceSpec {
  readonly field: string
}

const annotate = (spec: ReferenceSpec) => <S extends Schema.Schema.Any>(self: S): S =>
  self.annotations({ [ReferenceAnnotationId]: spec }) as S

/** Marks a field as a hard reference to `target`: `Schema.NullOr(Schema.String).pipe(hardRef("cmdb_ci"))`. */
export const hardRef = (target: string) => annotate({ target, kind: "hard" })

/** Marks a field as a soft reference to `target`. */
export const softRef = (target: string) => annotate({ target, kind: "soft" })

const isReferenceSpec = (u: unknown): u is ReferenceSpec =>
  typeof u === "object" && u !== null && "target" in u && "kind" in u &&
  typeof u.target === "string" && (u.kind === "hard" || u.kind === "soft")

/** Finds a reference annotation on a field type, looking through nullability, refinements and transformations. */
export const referenceOf = (ast: SchemaAST.AST): Option.Option<ReferenceSpec> => {
  const own = ast.annotations[ReferenceAnnotationId]
  if (isReferenceSpec(own)) return Option.some(own)
  switch (ast._tag) {
    case "Union":
      return Option.firstSomeOf(ast.types.map(referenceOf))
    case "Refinement":
      return referenceOf(ast.from)
    case "Transformation":
      return Option.orElse(referenceOf(ast.to), () => referenceOf(ast.from))
    case "Suspend":
      return Option.none()
    default:
      return Option.none()
  }
}

/** The fields of a struct-like schema (a struct, a refined struct, or a `Schema.Class`), in order. */
export const propertySignatures = (ast: SchemaAST.AST): ReadonlyArray<SchemaAST.PropertySignature> => {
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures
    case "Transformation":
      // A `Schema.Class` is a transformation from its fields' struct to an opaque declaration, so its
      // fields (and their annotations) are only visible on the `from` side.
      return propertySignatures(ast.to._tag === "Declaration" ? ast.from : ast.to)
    case "Refinement":
      return propertySignatures(ast.from)
    default:
      return []
  }
}

/** Every field of a struct schema that carries a reference annotation, in field order. */
export const referencesOf = (schema: Schema.Schema.Any): ReadonlyArray<FieldReference> =>
  propertySignatures(schema.ast).flatMap((ps) =>
    Option.match(referenceOf(ps.type), {
      onNone: () => [],
      onSome: (spec) => [{ field: String(ps.name), ...spec }]
    })
  )
