import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["./test/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // CI reads the JSON report to print its "N passed, N failed" line.
    reporters: process.env.TIDEMARK_TEST_REPORT ? ["default", "json"] : ["default"],
    ...(process.env.TIDEMARK_TEST_REPORT ? { outputFile: { json: process.env.TIDEMARK_TEST_REPORT } } : {})
  }
})
