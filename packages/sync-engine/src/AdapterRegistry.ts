/**
 * Where the engine finds the adapter for an (org, adapter name): the composition root registers the
 * adapters it configured, each node of a cluster the same, so any node can run any entity workflow.
 */
import type { Adapter, Manifest } from "@tidemark/adapter-core"
import { Context, Effect, Layer, Schema } from "effect"

export class UnknownAdapterError extends Schema.TaggedError<UnknownAdapterError>()("UnknownAdapterError", {
  orgId: Schema.String,
  adapter: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message() {
    return `no adapter "${this.adapter}" is configured for org "${this.orgId}" (configured: ${
      this.known.length === 0 ? "none" : this.known.join(", ")
    })`
  }
}

export interface AdapterRegistryShape {
  readonly get: (orgId: string, adapter: string) => Effect.Effect<Adapter.Adapter, UnknownAdapterError>
  /** The manifest of an adapter, the same for every org. */
  readonly manifest: (adapter: string) => Effect.Effect<Manifest.EntityManifest, UnknownAdapterError>
}

export class AdapterRegistry extends Context.Tag("@tidemark/sync-engine/AdapterRegistry")<
  AdapterRegistry,
  AdapterRegistryShape
>() {}

/** A registry over adapters built once, keyed by (org, adapter name). */
export const fromAdapters = (adapters: ReadonlyArray<Adapter.Adapter>): AdapterRegistryShape => {
  const byKey = new Map(adapters.map((a) => [`${a.org}\u0000${a.name}`, a]))
  const known = adapters.map((a) => `${a.org}/${a.name}`)
  return {
    get: (orgId, adapter) => {
      const found = byKey.get(`${orgId}\u0000${adapter}`)
      return found ? Effect.succeed(found) : Effect.fail(new UnknownAdapterError({ orgId, adapter, known }))
    },
    manifest: (adapter) => {
      const found = adapters.find((a) => a.name === adapter)
      return found
        ? Effect.succeed(found.manifest)
        : Effect.fail(new UnknownAdapterError({ orgId: "*", adapter, known }))
    }
  }
}

export const layer = <E, R>(adapters: Effect.Effect<ReadonlyArray<Adapter.Adapter>, E, R>) =>
  Layer.effect(AdapterRegistry, Effect.map(adapters, fromAdapters))
