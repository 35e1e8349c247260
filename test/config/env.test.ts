import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { envSchema, readEnv } from "../../src/config/env.ts";
import { ConfigError } from "../../src/config/yaml-file.ts";
import { runCli } from "../helpers/cli.ts";

describe("the environment, in one schema", () => {
  test("defaults when unset, typed values when given, frozen", () => {
    const defaults = readEnv({});
    assert.equal(defaults.HEADROOM_LIMITER_TIMEOUT_MS, 250);
    assert.equal(defaults.HEADROOM_REDIS_PREFIX, "hr:");
    assert.equal(defaults.HEADROOM_LIMITER_LEASE_FRACTION, 0);
    assert.equal(defaults.HEADROOM_DATABASE_SCHEMA, "public");
    assert.equal(defaults.HEADROOM_LEDGER_BUFFER, 100_000);
    assert.equal(defaults.OTEL_SERVICE_NAME, "headroom");
    assert.equal(defaults.REDIS_URL, undefined);
    assert.ok(Object.isFrozen(defaults));
    const given = readEnv({
      REDIS_URL: "redis://127.0.0.1:6379",
      HEADROOM_LIMITER_TIMEOUT_MS: "400",
      HEADROOM_LIMITER_LEASE_FRACTION: "0.005",
      HEADROOM_REDIS_PREFIX: "eu:",
      HEADROOM_LIMITER_ON_FAILURE: "closed",
      HEADROOM_LEDGER_BUFFER: "30",
      HEADROOM_ADMIN_TOKEN: "  hr-admin-x  ",
      HEADROOM_CLOCK_START: "2026-05-11T00:00:00Z",
      DATABASE_URL: "",
    });
    assert.equal(given.REDIS_URL, "redis://127.0.0.1:6379");
    assert.equal(given.HEADROOM_LIMITER_TIMEOUT_MS, 400);
    assert.equal(given.HEADROOM_LIMITER_LEASE_FRACTION, 0.005);
    assert.equal(given.HEADROOM_REDIS_PREFIX, "eu:");
    assert.equal(given.HEADROOM_LIMITER_ON_FAILURE, "closed");
    assert.equal(given.HEADROOM_LEDGER_BUFFER, 30);
    assert.equal(given.HEADROOM_ADMIN_TOKEN, "hr-admin-x", "trimmed");
    assert.equal(given.HEADROOM_CLOCK_START, "2026-05-11T00:00:00Z");
    assert.equal(given.DATABASE_URL, undefined, "an empty export is no value");
  });

  test("a value that is not what its variable takes is refused by name", () => {
    for (const [name, value, message] of [
      [
        "HEADROOM_LIMITER_TIMEOUT_MS",
        "250ms",
        /HEADROOM_LIMITER_TIMEOUT_MS must be milliseconds from 1 to 60000, e\.g\. 250; got "250ms"/,
      ],
      ["HEADROOM_LIMITER_TIMEOUT_MS", "0", /got "0"/],
      [
        "HEADROOM_LIMITER_LEASE_FRACTION",
        "0.2",
        /HEADROOM_LIMITER_LEASE_FRACTION must be a share below 0\.1/,
      ],
      ["HEADROOM_LIMITER_LEASE_FRACTION", "-1", /got "-1"/],
      ["HEADROOM_LEDGER_BUFFER", "lots", /HEADROOM_LEDGER_BUFFER must be a whole number/],
      ["HEADROOM_LEDGER_BUFFER", "2.5", /HEADROOM_LEDGER_BUFFER must be a whole number/],
      ["HEADROOM_LIMITER_ON_FAILURE", "sometimes", /HEADROOM_LIMITER_ON_FAILURE must be "open" or "closed"/],
      ["HEADROOM_METRICS_LISTEN", "9464", /HEADROOM_METRICS_LISTEN must be host:port/],
      ["HEADROOM_UPSTREAM_URL", "api.anthropic.com", /HEADROOM_UPSTREAM_URL must be a URL/],
      ["HEADROOM_KEY_SECRET", "short", /HEADROOM_KEY_SECRET must be at least 32 characters/],
      ["HEADROOM_CLOCK_START", "soon", /HEADROOM_CLOCK_START must be an ISO date-time/],
      ["OTEL_EXPORTER_OTLP_ENDPOINT", "collector", /OTEL_EXPORTER_OTLP_ENDPOINT must be a URL/],
    ] as const)
      assert.throws(
        () => readEnv({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        `${name}=${value}`,
      );
  });

  test("docs/deploy.md lists exactly the schema's variables, with their defaults and meanings", () => {
    const text = readFileSync(new URL("../../docs/deploy.md", import.meta.url), "utf8");
    const rows = text
      .split("\n")
      .filter((line) => /^\| `[A-Z_]+` +\|/.test(line))
      .map((line) =>
        line
          .slice(1, -1)
          .split(" |")
          .map((cell) => cell.trim()),
      );
    const defaults = readEnv({}) as Record<string, unknown>;
    const expected = Object.entries(envSchema.shape).map(([name, schema]) => [
      `\`${name}\``,
      defaults[name] === undefined ? "unset" : `\`${String(defaults[name])}\``,
      (schema as { description?: string }).description,
    ]);
    assert.deepEqual(rows, expected);
  });

  test("no module reads process.env past the schema (libpq's user fallback aside)", () => {
    const root = new URL("../../src/", import.meta.url).pathname;
    for (const file of readdirSync(root, { recursive: true, encoding: "utf8" })) {
      if (!file.endsWith(".ts")) continue;
      const reads = readFileSync(`${root}${file}`, "utf8").match(/process\.env\.[A-Z_]+/g) ?? [];
      const allowed = file === "stores/postgres.ts" ? ["process.env.PGUSER", "process.env.USER"] : [];
      assert.deepEqual(
        reads.filter((read) => !allowed.includes(read)),
        [],
        `${file} reads the environment past config/env.ts`,
      );
    }
  });

  test("headroom serve stops at start with that line, before it listens", async () => {
    const result = await runCli(["serve", "--port", "0"], { env: { HEADROOM_LIMITER_TIMEOUT_MS: "soon" } });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /HEADROOM_LIMITER_TIMEOUT_MS must be milliseconds from 1 to 60000/);
    assert.doesNotMatch(result.stdout, /listening/);
  });
});
