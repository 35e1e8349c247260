import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { DimensionSpec } from "../../src/limits/dimension.ts";
import { LimiterUnavailableError } from "../../src/limits/limiter-store.ts";
import { connectRedis, RedisLimiterStore, whenReady } from "../../src/stores/redis-limiter.ts";
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from "../helpers/redis.ts";
import { describeLimiterContract } from "./limiter-contract.ts";

const skip = await redisSkipReason();
const prefix = uniquePrefix("limiter");
const admin = skip ? undefined : new Redis(REDIS_URL);

after(async () => {
  if (admin) {
    await deletePrefix(admin, prefix);
    admin.disconnect();
  }
});

async function readyStore(options: { now?: () => number } = {}) {
  const client = connectRedis(REDIS_URL);
  await whenReady(client);
  return new RedisLimiterStore(client, { prefix, ...options });
}

describeLimiterContract("redis", (clock) => readyStore({ now: () => clock.now }), { skip });

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
    const started = performance.now();
    await assert.rejects(
      store.check({ key: "down", dimensions: [rpm], costs: [1] }),
      LimiterUnavailableError,
    );
    assert.ok(performance.now() - started < 1_000);
    await store.close();
  });

  test("a Redis that stops answering times out with LimiterUnavailableError", async () => {
    const client = connectRedis(REDIS_URL, { timeoutMs: 150 });
    await whenReady(client);
    const store = new RedisLimiterStore(client, { prefix });
    // CLIENT PAUSE makes the server hold every client's commands: a hung Redis.
    await admin?.call("CLIENT", "PAUSE", "600", "ALL");
    const started = performance.now();
    await assert.rejects(
      store.check({ key: "hung", dimensions: [rpm], costs: [1] }),
      LimiterUnavailableError,
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 140 && elapsed < 550, `failed after ${elapsed} ms`);
    await admin?.call("CLIENT", "UNPAUSE");
    await store.close();
  });

  test("four OS processes sharing one key admit within 1% of the theoretical maximum", async () => {
    const key = `shared-${Date.now()}`;
    const worker = fileURLToPath(new URL("./limiter-worker.ts", import.meta.url));
    const limit = 2_000; // per second, burst 2,000
    const durationMs = 3_000;
    const startAt = Date.now() + 1_500; // let every process connect first
    const children = Array.from({ length: 4 }, () =>
      fork(worker, [REDIS_URL, prefix, key, String(limit), String(startAt), String(durationMs)], {
        execArgv: ["--import", "tsx"],
      }),
    );
    const results = await Promise.all(
      children.map(async (child) => {
        const [message] = (await once(child, "message")) as [
          { admitted: number; rejected: number; first: number; last: number },
        ];
        return message;
      }),
    );
    const admitted = results.reduce((sum, result) => sum + result.admitted, 0);
    const rejected = results.reduce((sum, result) => sum + result.rejected, 0);
    // Server-side times of the first and last decision bound what the bucket could give.
    const first = Math.min(...results.map((result) => result.first));
    const last = Math.max(...results.map((result) => result.last));
    const theoretical = limit + Math.floor(((last - first) * limit) / 1_000);
    assert.ok(rejected > admitted, "the processes pushed well past the limit");
    assert.ok(admitted <= theoretical + 1, `admitted ${admitted} > theoretical ${theoretical}`);
    assert.ok(admitted >= theoretical * 0.99, `admitted ${admitted} < 99% of ${theoretical}`);
  });
});
