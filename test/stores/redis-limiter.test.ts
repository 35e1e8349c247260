import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { DimensionSpec } from "../../src/limits/dimension.ts";
import { LimiterUnavailableError } from "../../src/limits/limiter-store.ts";
import { connectRedis, whenReady } from "../../src/stores/redis-connection.ts";
import { RedisLimiterStore } from "../../src/stores/redis-limiter.ts";
import { REDIS_URL, redisScope } from "../helpers/redis.ts";
import { startFreezableProxy } from "../helpers/tcp-proxy.ts";
import { withinDeadline } from "../helpers/wait.ts";
import { describeLimiterContract } from "./limiter-contract.ts";
import { describeLostRequests } from "./lost-requests-contract.ts";

const { skip, prefix, admin } = await redisScope("limiter");

async function readyStore(options: { now?: () => number } = {}) {
  const client = connectRedis(REDIS_URL);
  await whenReady(client);
  return new RedisLimiterStore(client, { prefix, ...options });
}

describeLimiterContract("redis", (clock) => readyStore({ now: () => clock.now }), { skip });
describeLostRequests(
  "Redis",
  async (clock, lostPrefix) => {
    const client = connectRedis(REDIS_URL);
    await whenReady(client);
    return new RedisLimiterStore(client, { prefix: lostPrefix, now: () => clock.now });
  },
  { skip, prefix },
);

describe("Redis limiter store", { skip }, () => {
  const rpm: DimensionSpec = { kind: "rate", name: "rpm", limit: 10, periodMs: 60_000 };

  test("all of a key's state shares one hash tag (one cluster slot) and expires once idle", async () => {
    const clock = { now: Date.UTC(2026, 4, 6) };
    const store = await readyStore({ now: () => clock.now });
    const conc: DimensionSpec = { kind: "concurrency", name: "conc", limit: 3, leaseMs: 5_000 };
    await store.check({ key: "tagged", dimensions: [rpm, conc], costs: [4, 1], leaseId: "x" });
    const keys = (await admin?.keys(`${prefix}*tagged*`))?.sort();
    assert.deepEqual(keys, [`${prefix}{tagged}`, `${prefix}{tagged}:lease:conc`]);
    const ttl = await admin?.pttl(`${prefix}{tagged}`);
    // 4 of 10 requests refill in 24 s: then the state equals a fresh one.
    assert.ok(ttl !== undefined && ttl > 23_000 && ttl <= 24_000, `pttl ${ttl}`);
    await store.close();
  });

  test("the script is reloaded after SCRIPT FLUSH (NOSCRIPT)", async () => {
    const store = await readyStore();
    assert.ok((await store.check({ key: "noscript", dimensions: [rpm], costs: [1] })).admitted);
    await admin?.script("FLUSH");
    assert.ok((await store.check({ key: "noscript", dimensions: [rpm], costs: [1] })).admitted);
    await store.close();
  });

  test("without an injected clock the script uses Redis server time", async () => {
    const store = await readyStore();
    const session: DimensionSpec = { kind: "window", name: "5h", limit: 5, periodMs: 5 * 3_600_000 };
    const [seconds] = (await admin?.time()) ?? [0];
    const decision = await store.check({ key: "servertime", dimensions: [session], costs: [1] });
    const start = (decision.dimensions[0]?.resetAtMs ?? 0) - 5 * 3_600_000;
    assert.ok(Math.abs(start - Number(seconds) * 1000) < 2_000, `window started at ${start}`);
    await store.close();
  });

  test("an unreachable Redis fails fast with LimiterUnavailableError", async () => {
    // A port that accepts nothing: bind, note the port, close.
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    server.close();
    const client = connectRedis(`redis://127.0.0.1:${port}`, { timeoutMs: 200 });
    client.on("error", () => {});
    const store = new RedisLimiterStore(client, { prefix });
    // Fails rather than waiting for a connection (the deadline only catches a hang).
    await withinDeadline(
      assert.rejects(store.check({ key: "down", dimensions: [rpm], costs: [1] }), LimiterUnavailableError),
      "a call to an unreachable Redis",
    );
    await store.close();
  });

  test("a Redis that stops answering times out with LimiterUnavailableError", async () => {
    // A proxy that stops answering: a hung Redis that leaves the shared server alone.
    const proxy = await startFreezableProxy(new URL(REDIS_URL));
    const client = connectRedis(proxy.url, { timeoutMs: 150 });
    client.on("error", () => {});
    await whenReady(client);
    const store = new RedisLimiterStore(client, { prefix });
    assert.ok((await store.check({ key: "hung", dimensions: [rpm], costs: [1] })).admitted);
    proxy.freeze();
    // It is the command timeout that ends the call (not a dropped connection), and it does end it.
    await withinDeadline(
      assert.rejects(
        store.check({ key: "hung", dimensions: [rpm], costs: [1] }),
        (error: unknown) =>
          error instanceof LimiterUnavailableError && /Command timed out/.test(error.message),
      ),
      "a call to a hung Redis",
    );
    await store.close();
    await proxy.close();
  });

  test("four OS processes sharing one key admit exactly what the limits allow: no more, no fewer", async () => {
    // 5,000 decisions race for one key from 4 processes × 16 in flight. The 5-hour window holds
    // 2,000 and nothing refills it; the rate dimension holds 3,000 and refills about one token
    // every 20 minutes. Whatever the interleaving, exactly 2,000 are admitted (more would be a
    // lost update, fewer a spurious refusal) and, because a refused request consumes nothing
    // anywhere, the rate dimension ends with exactly 1,000 left.
    const key = `shared-${process.pid}`;
    const window: DimensionSpec = { kind: "window", name: "5h", limit: 2_000, periodMs: 5 * 3_600_000 };
    const rate: DimensionSpec = { kind: "rate", name: "slow", limit: 3_000, periodMs: 1_000 * 3_600_000 };
    const worker = fileURLToPath(new URL("./limiter-worker.ts", import.meta.url));
    const args = [REDIS_URL, prefix, key, JSON.stringify([rate, window]), "1250"];
    const children = Array.from({ length: 4 }, () => fork(worker, args, { execArgv: ["--import", "tsx"] }));
    // Each process says "ready" once connected; then all are told to go together.
    await withinDeadline(
      Promise.all(children.map((child) => once(child, "message"))),
      "the workers to connect",
      120_000,
    );
    const results = children.map(async (child) => {
      const [message] = (await once(child, "message")) as [{ admitted: number; rejected: number }];
      return message;
    });
    for (const child of children) child.send("go");
    const tallies = await withinDeadline(Promise.all(results), "the four workers", 120_000);
    const admitted = tallies.reduce((sum, tally) => sum + tally.admitted, 0);
    const rejected = tallies.reduce((sum, tally) => sum + tally.rejected, 0);
    assert.deepEqual([admitted, rejected], [2_000, 3_000]);
    const store = await readyStore();
    const peek = await store.check({ key, dimensions: [rate, window], costs: [0, 0], dryRun: true });
    assert.deepEqual(
      peek.dimensions.map((dimension) => [dimension.name, dimension.remaining]),
      [
        ["slow", 1_000],
        ["5h", 0],
      ],
    );
    await store.close();
  });
});
