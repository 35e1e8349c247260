/**
 * A gateway SIGKILLed while it serves a request can never settle it: the estimate it charged
 * would stay in the shared windows though the user got nothing and the ledger has no row. Two
 * `headroom serve` processes on one Redis; the survivor's sweep refunds the dead one's request
 * within the lease time, so the meter again equals the ledger.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { slowGatewaysOnRedis } from "../helpers/cli.ts";
import { REDIS_URL, redisScope } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/** Kept alive every 2 s: 4 s of slack for a busy machine before a running request looks lost. */
const LEASE_MS = 6_000;
const { skip, prefix } = await redisScope("lost-requests");

interface Limits {
  limits: Array<{ name: string; limit: number; remaining: number }>;
}

describe("requests lost with a SIGKILLed gateway", { skip }, () => {
  const gateways = slowGatewaysOnRedis(REDIS_URL, `${prefix}kill:`, LEASE_MS);

  test("the survivor refunds the dead gateway's request: the 5-hour window is back to what the ledger holds", async (t) => {
    const { key, id } = JSON.parse(
      await gateways.cli(["keys", "create", "--account", "agent", "--plan", "pro", "--json"]),
    ) as { key: string; id: string };
    const [doomed, survivor] = [await gateways.serve(), await gateways.serve()];
    const fiveHours = async () => {
      const response = await fetch(`${survivor.url}/v1/headroom/limits?model=claude-sonnet-4-6`, {
        headers: { "x-api-key": key },
      });
      const body = (await response.json()) as Limits;
      const window = body.limits.find((limit) => limit.name === "5h");
      assert.ok(window, JSON.stringify(body));
      return window;
    };
    const full = await fiveHours();
    assert.equal(full.remaining, full.limit);

    const controller = new AbortController();
    const long = await fetch(`${doomed.url}/v1/messages`, {
      method: "POST",
      signal: controller.signal,
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude-sonnet-4-6",
        max_tokens: 10_000,
        stream: true,
        messages: [{ role: "user", content: "sim:tokens=10000" }],
      }),
    });
    assert.equal(long.status, 200, "the long stream was admitted");
    const charged = await fiveHours();
    assert.ok(charged.remaining < full.limit, "its estimate is charged while it runs");
    // Running longer than the lease time: its gateway keeps it alive (a pro plan has no
    // concurrency limit, so this is the charge record alone), and no sweep refunds it.
    await new Promise((resolve) => setTimeout(resolve, 1.5 * LEASE_MS));
    assert.equal((await fiveHours()).remaining, charged.remaining, "a running request is never refunded");

    const killedAt = performance.now();
    doomed.child.kill("SIGKILL");
    controller.abort();
    await waitFor(
      async () => (await fiveHours()).remaining === full.limit,
      "the survivor's sweep to refund it",
      {
        timeoutMs: 60_000,
        intervalMs: 100,
      },
    );
    t.diagnostic(
      `refunded ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the SIGKILL (lease time ${LEASE_MS / 1000} s)`,
    );
    const explained = await gateways.cli(["usage", "--explain", "--key", id, "--window", "5h"]);
    // The ledger has no row for a request its gateway never settled; the meter now agrees.
    assert.match(explained, /none running; \$2\.40 available/, explained);
    assert.doesNotMatch(explained, /req_/, explained);
  });
});
