import { randomBytes } from "node:crypto"

export interface Credentials {
  readonly clientId: string
  readonly clientSecret: string
  readonly username: string
  readonly password: string
}

export type AuthMode = "oauth" | "none"

export interface TokenAnswer {
  readonly status: number
  readonly body: unknown
}

interface IssuedToken {
  readonly principal: string
  expiresAt: number
}

/**
 * OAuth client-credentials (and password) tokens plus Basic auth with the configured user, as
 * a ServiceNow instance accepts them. Token lifetimes run on real time, not the simulator clock:
 * they are about the client's token refresh, not about the data.
 */
export class AuthState {
  private readonly tokens = new Map<string, IssuedToken>()
  tokensIssued = 0

  constructor(
    readonly mode: AuthMode,
    readonly credentials: Credentials,
    readonly tokenTtlSeconds: number
  ) {}

  /** Answers `POST /oauth_token.do` (form-encoded body). */
  issue(form: URLSearchParams, authorization: string | undefined): TokenAnswer {
    const basic = decodeBasic(authorization)
    const clientId = form.get("client_id") ?? basic?.[0] ?? ""
    const clientSecret = form.get("client_secret") ?? basic?.[1] ?? ""
    const grant = form.get("grant_type") ?? ""
    if (grant !== "client_credentials" && grant !== "password") {
      return {
        status: 400,
        body: { error: "unsupported_grant_type", error_description: `grant_type '${grant}' is not supported` }
      }
    }
    const { credentials: c } = this
    const clientOk = clientId === c.clientId && clientSecret === c.clientSecret
    const userOk = grant === "client_credentials" ||
      (form.get("username") === c.username && form.get("password") === c.password)
    if (!clientOk || !userOk) {
      return { status: 401, body: { error: "access_denied", error_description: "Invalid client or user credentials" } }
    }
    const token = randomBytes(24).toString("base64url")
    const principal = grant === "password" ? `user:${c.username}` : `client:${clientId}`
    this.tokens.set(token, { principal, expiresAt: Date.now() + this.tokenTtlSeconds * 1000 })
    this.tokensIssued++
    return {
      status: 200,
      body: { access_token: token, token_type: "Bearer", expires_in: this.tokenTtlSeconds, scope: "useraccount" }
    }
  }

  /** The principal behind an Authorization header, or null when it is missing, unknown or expired. */
  authenticate(authorization: string | undefined): string | null {
    if (authorization === undefined) return this.mode === "none" ? "anonymous" : null
    if (authorization.startsWith("Bearer ")) {
      const token = authorization.slice(7).trim()
      const issued = this.tokens.get(token)
      if (issued !== undefined && issued.expiresAt > Date.now()) return issued.principal
      if (issued !== undefined) this.tokens.delete(token)
      return this.mode === "none" ? "anonymous" : null
    }
    const basic = decodeBasic(authorization)
    if (basic !== undefined && basic[0] === this.credentials.username && basic[1] === this.credentials.password) {
      return `user:${basic[0]}`
    }
    return this.mode === "none" ? "anonymous" : null
  }

  expireAll(): number {
    for (const token of this.tokens.values()) token.expiresAt = 0
    return this.tokens.size
  }
}

const decodeBasic = (authorization: string | undefined): [string, string] | undefined => {
  if (authorization === undefined || !authorization.startsWith("Basic ")) return undefined
  const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon < 0 ? undefined : [decoded.slice(0, colon), decoded.slice(colon + 1)]
}
