import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http"
import type { SimulatorRequestError } from "./Errors.js"

export const JSON_CONTENT_TYPE = "application/json;charset=UTF-8"

/** ServiceNow's error body. */
export const errorBody = (message: string, detail: string | null) => ({ error: { message, detail }, status: "failure" })

export const sendText = (
  res: ServerResponse,
  status: number,
  text: string,
  headers: OutgoingHttpHeaders = {}
): void => {
  res.writeHead(status, { "Content-Type": JSON_CONTENT_TYPE, "Content-Length": Buffer.byteLength(text), ...headers })
  res.end(text)
}

export const sendJson = (res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void =>
  sendText(res, status, JSON.stringify(body), headers)

export const sendError = (res: ServerResponse, error: SimulatorRequestError, headers: OutgoingHttpHeaders = {}): void =>
  sendJson(res, error.status, errorBody(error.message, error.detail), headers)

/**
 * A 200 whose body stops halfway: the headers promise the whole length, then the socket is
 * destroyed, as when a proxy or the instance dies mid-response.
 */
export const sendTruncated = (res: ServerResponse, text: string, headers: OutgoingHttpHeaders): void => {
  const bytes = Buffer.from(text)
  res.writeHead(200, { "Content-Type": JSON_CONTENT_TYPE, "Content-Length": bytes.length, ...headers })
  res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.socket?.destroy())
}

const MAX_BODY = 16 * 1024 * 1024

/** Collects a request body; `onBody` gets null when it is larger than 16 MiB. */
export const readBody = (req: IncomingMessage, onBody: (body: string | null) => void): void => {
  const chunks: Array<Buffer> = []
  let size = 0
  let tooLarge = false
  req.on("data", (chunk: Buffer) => {
    size += chunk.length
    if (size > MAX_BODY) tooLarge = true
    else chunks.push(chunk)
  })
  req.on("end", () => onBody(tooLarge ? null : Buffer.concat(chunks).toString("utf8")))
  req.on("error", () => onBody(null))
}
