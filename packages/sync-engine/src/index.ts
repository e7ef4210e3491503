export * as Database from "./Database.js"
export * as EmbeddedPostgres from "./EmbeddedPostgres.js"
