/**
 * The set of entities an adapter syncs, checked as a whole: names are unique and every reference points
 * at an entity of the set. The dependency graph is built from a manifest, never from loose definitions.
 */
import { Effect, Either, Option, Schema } from "effect"
import { type AnyEntityDefinition, references as referencesOfDefinition } from "./EntityDefinition.js"
import type { FieldReference } from "./Reference.js"

export interface EntityManifest {
  /** In declared order; the graph uses this order to break ties, so it is part of the contract. */
  readonly entities: ReadonlyArray<AnyEntityDefinition>
  readonly byName: ReadonlyMap<string, AnyEntityDefinition>
  /** Each entity's references in field order, derived once from its row schema's annotations. */
  readonly references: ReadonlyMap<string, ReadonlyArray<FieldReference>>
}

const quoteAll = (names: ReadonlyArray<string>): string =>
  names.length === 0 ? "(none)" : names.map((name) => `"${name}"`).join(", ")

export class DuplicateEntityNameError extends Schema.TaggedError<DuplicateEntityNameError>()(
  "DuplicateEntityNameError",
  {
    /** Every name declared more than once, in order of first declaration. */
    names: Schema.Array(Schema.String)
  }
) {
  override get message(): string {
    return `duplicate entity names in manifest: ${quoteAll(this.names)}`
  }
}

export class UnknownReferenceTargetError extends Schema.TaggedError<UnknownReferenceTargetError>()(
  "UnknownReferenceTargetError",
  {
    entity: Schema.String,
    field: Schema.String,
    target: Schema.String,
    kind: Schema.Literal("hard", "soft"),
    /** The manifest's entity names, in declared order, so the message can suggest the intended one. */
    known: Schema.Array(Schema.String)
  }
) {
  override get message(): string {
    return `entity "${this.entity}" field "${this.field}" has a ${this.kind} reference to unknown entity ` +
      `"${this.target}"; known entities: ${quoteAll(this.known)}`
  }
}

/** A name that is not an entity of the manifest (a lookup, or a subset requested for a run). */
export class UnknownEntityError extends Schema.TaggedError<UnknownEntityError>()(
  "UnknownEntityError",
  {
    unknown: Schema.Array(Schema.String),
    known: Schema.Array(Schema.String)
  }
) {
  override get message(): string {
    const noun = this.unknown.length === 1 ? "entity" : "entities"
    return `unknown ${noun} ${quoteAll(this.unknown)}; known entities: ${quoteAll(this.known)}`
  }
}

export type ManifestError = DuplicateEntityNameError | UnknownReferenceTargetError

const check = (
  definitions: ReadonlyArray<AnyEntityDefinition>
): Either.Either<EntityManifest, ManifestError> => {
  const byName = new Map<string, AnyEntityDefinition>()
  const duplicates = new Set<string>()
  for (const definition of definitions) {
    if (byName.has(definition.name)) duplicates.add(definition.name)
    else byName.set(definition.name, definition)
  }
  if (duplicates.size > 0) return Either.left(new DuplicateEntityNameError({ names: [...duplicates] }))

  const known = definitions.map((definition) => definition.name)
  const references = new Map<string, ReadonlyArray<FieldReference>>()
  for (const definition of definitions) {
    const refs = referencesOfDefinition(definition)
    // Reported one at a time, first in declared order: each names the exact field to fix.
    const unknown = refs.find((ref) => !byName.has(ref.target))
    if (unknown !== undefined) {
      return Either.left(
        new UnknownReferenceTargetError({
          entity: definition.name,
          field: unknown.field,
          target: unknown.target,
          kind: unknown.kind,
          known
        })
      )
    }
    references.set(definition.name, refs)
  }
  return Either.right({ entities: [...definitions], byName, references })
}

/**
 * Checks a set of definitions and makes a manifest of them. Fails on duplicate names (all of them are
 * named) and on the first reference, in declared order, whose target is not an entity of the set.
 */
export const mkEntityManifest = (
  definitions: ReadonlyArray<AnyEntityDefinition>
): Effect.Effect<EntityManifest, ManifestError> => Effect.suspend(() => check(definitions))

/**
 * Same check as `mkEntityManifest`, but throws the `ManifestError`. Only for an adapter's module-level
 * manifest constant, whose validity a test asserts; everything else uses `mkEntityManifest`.
 */
export const unsafeMakeEntityManifest = (definitions: ReadonlyArray<AnyEntityDefinition>): EntityManifest =>
  Either.getOrThrowWith(check(definitions), (error) => error)

/** Entity names in declared order. */
export const names = (manifest: EntityManifest): ReadonlyArray<string> =>
  manifest.entities.map((definition) => definition.name)

export const get = (manifest: EntityManifest, name: string): Option.Option<AnyEntityDefinition> =>
  Option.fromNullable(manifest.byName.get(name))

export const lookup = (
  manifest: EntityManifest,
  name: string
): Effect.Effect<AnyEntityDefinition, UnknownEntityError> =>
  Option.match(get(manifest, name), {
    onNone: () => Effect.fail(new UnknownEntityError({ unknown: [name], known: names(manifest) })),
    onSome: Effect.succeed
  })

/** The references `name` declares, in field order; empty for a name outside the manifest. */
export const referencesOf = (manifest: EntityManifest, name: string): ReadonlyArray<FieldReference> =>
  manifest.references.get(name) ?? []
