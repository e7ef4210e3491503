/**
 * The web page, the single pane of glass: overview, open incidents with their risk, runs with live
 * progress and the dependency graph. It is static files in `web/` (HTML, browser ES modules, CSS; no
 * build step) that call the HTTP API with the bearer token the user gives them, so serving the files
 * needs no authentication: `GET /` is `web/index.html`, `GET /web/<name>` every other file.
 */
import { FileSystem, HttpLayerRouter, HttpServerResponse, Path } from "@effect/platform"
import { Effect } from "effect"
import { fileURLToPath } from "node:url"

/** The folder the page's files are read from, once, when the routes are added. */
export const WEB_DIR = fileURLToPath(new URL("./web/", import.meta.url))

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon"
}

// The page runs only its own files and talks only to this origin; with `no-referrer`, a token the
// user passed as `?token=` (the page removes it from the address bar) never leaves in a Referer.
const headers = {
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

interface Asset {
  readonly name: string
  readonly contentType: string
  readonly body: Uint8Array
}

const readAssets = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const names = (yield* fs.readDirectory(WEB_DIR)).filter((name) => path.extname(name) in contentTypes).sort()
  return yield* Effect.forEach(names, (name) =>
    Effect.map(fs.readFile(path.join(WEB_DIR, name)), (body): Asset => ({
      name,
      contentType: contentTypes[path.extname(name)]!,
      body
    })))
})

const respond = (asset: Asset) =>
  Effect.sync(() => HttpServerResponse.uint8Array(asset.body, { contentType: asset.contentType, headers }))

/**
 * `GET /` and `GET /web/<file>` on the server's `HttpLayerRouter`. Requires the `FileSystem` and
 * `Path` that `NodeHttpServer.layer` provides; a missing `web/` folder is a defect of the install.
 */
export const routes = HttpLayerRouter.addAll(
  readAssets.pipe(
    Effect.flatMap((assets) => {
      const index = assets.find((asset) => asset.name === "index.html")
      return index === undefined
        ? Effect.dieMessage(`the web page's index.html is missing from ${WEB_DIR}`)
        : Effect.succeed([
          HttpLayerRouter.route("GET", "/", respond(index)),
          ...assets.map((asset) => HttpLayerRouter.route("GET", `/web/${asset.name}`, respond(asset)))
        ])
    }),
    Effect.orDie
  )
)
