/**
 * A gateway whose Redis goes away and comes back (a proxy in front of the real one): failing
 * open it keeps answering from what it knew and writes one line per change of state; failing
 * closed it answers 503 in each endpoint's own envelope; /metrics shows the state; and the
 * usage served during the outage is in Redis after it returns.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import { scrapeMetrics, startTestGateway, type TestGateway, windowsOf } from "../helpers/gateway.ts";
import { REDIS_URL, redisScope } from "../helpers/redis.ts";
import { type FreezableProxy, startFreezableProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait.ts";

const { skip, prefix } = await redisScope("outage");

const ask = (server: TestGateway, path = "/v1/messages") =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    headers: {
      "x-api-key": server.key,
      authorization: `Bearer ${server.key}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({
      model: "claude-sonnet-4-6",
      max_tokens: 32,
      messages: [{ role: "user", content: "How many GPUs in a Colossus-class site?" }],
    }),
  });

async function metric(server: TestGateway, name: string): Promise<number | undefined> {
  const text = await scrapeMetrics(server);
  const line = text.split("\n").find((row) => row.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

/** The limiter's state as the admin API's live view (and the dashboard) reports it. */
async function limiterState(server: TestGateway): Promise<string> {
  const response = await fetch(`${server.url}/admin/v1/live`, {
    headers: { authorization: `Bearer ${server.adminToken}` },
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { limiter_state: string }).limiter_state;
}

async function outageGateway(onFailure: "open" | "closed") {
  const proxy: FreezableProxy = await startFreezableProxy(new URL(REDIS_URL));
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const server = await startTestGateway({
    env: {
      REDIS_URL: proxy.url,
      HEADROOM_REDIS_PREFIX: `${prefix}${onFailure}:`,
      HEADROOM_LIMITER_ON_FAILURE: onFailure,
      HEADROOM_LIMITER_TIMEOUT_MS: "200",
    },
    configure: (config) => {
      config.limiter.probe_interval_ms = 25;
    },
    logger,
  });
  const storeLines = () => lines.filter((line) => line.msg.startsWith("limiter store"));
  return { proxy, server, storeLines };
}

describe("a gateway whose Redis goes away", { skip }, () => {
  test("fails open from what it knew, logs one line each way, and Redis has the outage's usage after", async () => {
    const { proxy, server, storeLines } = await outageGateway("open");
    try {
      for (let i = 0; i < 3; i++) assert.equal((await ask(server)).status, 200);
      assert.equal(await metric(server, "headroom_limiter_store_up"), 1);
      const before = await windowsOf(server);

      proxy.down();
      for (let i = 0; i < 20; i++)
        assert.equal((await ask(server)).status, 200, `request ${i} in the outage`);
      // The local view starts from Redis's: the outage's usage is on top of what came before.
      const during = await windowsOf(server);
      assert.ok((during["5h"]?.remaining ?? 0) < (before["5h"]?.remaining ?? 0), "the outage's usage counts");
      assert.equal(await metric(server, "headroom_limiter_store_up"), 0);
      assert.equal(await metric(server, "headroom_limiter_store_outages_total"), 1);
      assert.equal(await limiterState(server), "failing open");
      assert.deepEqual(
        storeLines().map(({ level, msg }) => ({ level, msg })),
        [{ level: 40, msg: "limiter store unavailable: deciding locally (fail open) until it answers" }],
        "one line for the whole outage, not one per request",
      );

      proxy.up();
      await waitFor(
        async () => (await metric(server, "headroom_limiter_store_up")) === 1,
        "the store back up",
      );
      assert.equal(storeLines().at(-1)?.msg, "limiter store answers again: deciding on it");
      assert.equal(await limiterState(server), "up");
      // What was admitted locally is replayed into Redis: its 5-hour window agrees with the local one.
      await waitFor(
        async () => (await windowsOf(server))["5h"]?.remaining === during["5h"]?.remaining,
        "Redis's 5-hour window to include the outage's usage",
      );
      assert.equal(storeLines().length, 2);
    } finally {
      await server.stop();
      await proxy.close();
    }
  });

  test("fails closed with 503 api_error and retry-after in each endpoint's envelope, then admits again", async () => {
    const { proxy, server, storeLines } = await outageGateway("closed");
    try {
      assert.equal((await ask(server)).status, 200);
      proxy.down();
      const anthropic = await ask(server);
      assert.equal(anthropic.status, 503);
      assert.equal(anthropic.headers.get("retry-after"), "1");
      assert.deepEqual(await anthropic.json(), {
        type: "error",
        error: { type: "api_error", message: "Rate limiter unavailable; retry after 1 s." },
        request_id: anthropic.headers.get("request-id"),
      });
      const openai = await ask(server, "/v1/chat/completions");
      assert.equal(openai.status, 503);
      const body = (await openai.json()) as { error: { message: string; type: string } };
      assert.equal(body.error.message, "Rate limiter unavailable; retry after 1 s.");
      assert.equal(storeLines().length, 1);
      assert.equal(await limiterState(server), "failing closed");
      proxy.up();
      await waitFor(async () => (await ask(server)).status === 200, "admission once Redis answers");
    } finally {
      await server.stop();
      await proxy.close();
    }
  });
});
