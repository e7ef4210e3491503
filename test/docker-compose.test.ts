/**
 * docker-compose.yml cannot run here (no Docker engine), so it is parsed and checked: the services,
 * the image they share, the environment each node needs, and the start order.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import { parse } from "yaml"

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")

interface Service {
  readonly image?: string
  readonly build?: string
  readonly command?: ReadonlyArray<string>
  readonly environment?: Readonly<Record<string, string>>
  readonly depends_on?: Readonly<Record<string, { readonly condition: string }>>
  readonly ports?: ReadonlyArray<string>
  readonly healthcheck?: { readonly test: ReadonlyArray<string> }
}

const compose = parse(Fs.readFileSync(Path.join(root, "docker-compose.yml"), "utf8")) as {
  readonly services: Readonly<Record<string, Service>>
}

describe("docker-compose.yml", () => {
  it("runs Postgres, the simulator and two nodes", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["node1", "node2", "postgres", "simulator"])
    expect(compose.services.postgres!.image).toMatch(/^postgres:1[4-9]/)
    expect(compose.services.postgres!.healthcheck?.test.join(" ")).toContain("pg_isready")
    expect(compose.services.simulator!.build).toBe(".")
    expect(Fs.existsSync(Path.join(root, "Dockerfile"))).toBe(true)
    expect(compose.services.simulator!.command).toContain("0.0.0.0")
  })

  it("gives each node the shared database, the source, and its own runner address", () => {
    const nodes = ["node1", "node2"].map((name) => [name, compose.services[name]!] as const)
    const runnerHosts = new Set<string>()
    for (const [name, node] of nodes) {
      expect(node.image, name).toBe(compose.services.simulator!.image)
      const env = node.environment ?? {}
      const database = new URL(env.DATABASE_URL!)
      expect(database.hostname, name).toBe("postgres")
      expect(new URL(env.ITSM_BASE_URL!).hostname, name).toBe("simulator")
      expect(env.RUNNER_HOST, name).toBe(name)
      expect(Number(env.RUNNER_PORT), name).toBeGreaterThan(0)
      expect(env.PORT, name).toBe("8080")
      for (const key of ["ORG_ID", "API_TOKENS", "WEBHOOK_SECRET", "NODE_NAME"]) expect(env[key], `${name} ${key}`).toBeTruthy()
      runnerHosts.add(env.RUNNER_HOST!)
      expect(node.depends_on?.postgres?.condition, name).toBe("service_healthy")
      expect(node.depends_on?.simulator, name).toBeDefined()
    }
    expect(runnerHosts.size).toBe(2)
    const published = nodes.flatMap(([, node]) => node.ports ?? []).map((p) => p.split(":")[0])
    expect(new Set(published).size).toBe(published.length)
  })

  it("uses only variables the server reads", () => {
    const config = Fs.readFileSync(Path.join(root, "apps", "server", "src", "ServerConfig.ts"), "utf8")
    for (const name of ["node1", "node2"]) {
      for (const key of Object.keys(compose.services[name]!.environment ?? {})) {
        if (key === "DATABASE_URL") continue
        expect(config, `${name} ${key}`).toContain(`"${key}"`)
      }
    }
  })
})
