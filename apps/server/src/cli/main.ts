/**
 * `tidemark`, the command-line client of a running Tidemark server (see Commands.ts for the commands):
 *   pnpm tidemark --url http://127.0.0.1:8080/rpc sync full --watch
 *
 * Exit codes: 0 done; 1 the server refused or failed the request, or a watched run did not succeed;
 * 2 the command line itself was wrong (the help for it is printed); 130 interrupted.
 */
import { Command, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit } from "effect"
import { command } from "./Commands.js"

const cli = Command.run(command, { name: "tidemark", version: "0.1.0" })

const program = cli(process.argv).pipe(
  Effect.as(0),
  Effect.catchAll((error) =>
    // @effect/cli has already printed what was wrong with the command line, with the usage.
    ValidationError.isValidationError(error)
      ? Effect.succeed(2)
      : Effect.as(Console.error(`error: ${error.message}`), 1)
  ),
  Effect.catchAllDefect((defect) => Effect.as(Console.error(`error: ${Cause.pretty(Cause.die(defect))}`), 1)),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? typeof exit.value === "number" ? exit.value : 0
        : Cause.isInterruptedOnly(exit.cause)
        ? 130
        : 1
    )
})
