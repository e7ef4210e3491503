/**
 * An error's message with those of its causes: a failed statement's own message ("Failed to execute
 * statement") says nothing; the database's, its cause, says what was refused and why.
 */
export const reasonOf = (error: unknown): string => {
  const messages: Array<string> = []
  for (let current: unknown = error; current !== undefined && messages.length < 4;) {
    const message = current instanceof Error ? current.message : String(current)
    if (message !== "" && !messages.includes(message)) messages.push(message)
    current = current instanceof Error ? current.cause : undefined
  }
  return messages.join(": ")
}
