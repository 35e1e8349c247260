import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { limiterEnv } from "../../src/config/env.ts";
import { ConfigError } from "../../src/config/yaml-file.ts";
import { runCli } from "../helpers/cli.ts";

describe("the limiter's environment", () => {
  test("defaults when unset, numbers when given, and every default in one place", () => {
    assert.deepEqual(limiterEnv({}), {
      HEADROOM_LIMITER_TIMEOUT_MS: 250,
      HEADROOM_REDIS_PREFIX: "hr:",
      HEADROOM_LIMITER_LEASE_FRACTION: 0,
    });
    const given = limiterEnv({
      REDIS_URL: "redis://127.0.0.1:6379",
      HEADROOM_LIMITER_TIMEOUT_MS: "400",
      HEADROOM_LIMITER_LEASE_FRACTION: "0.005",
      HEADROOM_REDIS_PREFIX: "eu:",
    });
    assert.deepEqual(given, {
      REDIS_URL: "redis://127.0.0.1:6379",
      HEADROOM_LIMITER_TIMEOUT_MS: 400,
      HEADROOM_REDIS_PREFIX: "eu:",
      HEADROOM_LIMITER_LEASE_FRACTION: 0.005,
    });
  });

  test("a value that is not a number, or out of range, is refused by name", () => {
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
    ] as const)
      assert.throws(
        () => limiterEnv({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        `${name}=${value}`,
      );
  });

  test("headroom serve stops at start with that line, before it listens", async () => {
    const result = await runCli(["serve", "--port", "0"], { env: { HEADROOM_LIMITER_TIMEOUT_MS: "soon" } });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /HEADROOM_LIMITER_TIMEOUT_MS must be milliseconds from 1 to 60000/);
    assert.doesNotMatch(result.stdout, /listening/);
  });
});
