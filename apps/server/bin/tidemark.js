#!/usr/bin/env node
// The CLI is TypeScript run by tsx. Registering tsx in this process (rather than spawning `tsx`)
// keeps one PID, so signals and the exit code pass straight through.
import { register } from "tsx/esm/api"

register()
await import("../src/cli/main.ts")
