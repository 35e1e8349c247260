/**
 * headroom's limiter against rate-limiter-flexible (the most used Node rate limiter) on the same
 * workloads in one run, plus the raw EVALSHA ceiling of the same Redis. `npm run bench limiter`.
 */
import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import type { DimensionSpec } from "../src/limits/dimension.ts";
import { LeasedLimiterStore } from "../src/stores/leased-limiter.ts";
import { MemoryLimiterStore } from "../src/stores/memory-limiter.ts";
import { whenReady } from "../src/stores/redis-connection.ts";
import { RedisLimiterStore } from "../src/stores/redis-limiter.ts";
import { compare, measure } from "./measure.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
// Limits high enough that every decision admits: the benchmark measures the decision, not refusals.
const BIG = 1_000_000_000;
const rpm: DimensionSpec = { kind: "rate", name: "rpm", limit: BIG, periodMs: 60_000 };
const itpm: DimensionSpec = { kind: "rate", name: "itpm", limit: BIG, periodMs: 60_000 };
const otpm: DimensionSpec = { kind: "rate", name: "otpm", limit: BIG, periodMs: 60_000 };
const keys = Array.from({ length: 10_000 }, (_, i) => `account-${i}`);
const lines: string[] = [];

async function memory(): Promise<void> {
  // The gateway asks the memory store with checkSync (no promise); the peer's API returns one.
  const ours = new MemoryLimiterStore();
  const peer = new RateLimiterMemory({ points: BIG, duration: 60 });
  const oneDim = [rpm];
  lines.push(
    compare(
      "memory, one key",
      await measure("headroom", () => ours.checkSync({ key: "one", dimensions: oneDim, costs: [1] })),
      await measure("rate-limiter-flexible", () => peer.consume("one", 1)),
      1,
    ),
  );
  lines.push(
    compare(
      "memory, 10,000 keys",
      await measure("headroom", (i) =>
        ours.checkSync({ key: keys[i % 10_000] as string, dimensions: oneDim, costs: [1] }),
      ),
      await measure("rate-limiter-flexible", (i) => peer.consume(keys[i % 10_000] as string, 1)),
      2,
    ),
  );
  const peers = [
    new RateLimiterMemory({ points: BIG, duration: 60 }),
    new RateLimiterMemory({ points: BIG, duration: 60 }),
    new RateLimiterMemory({ points: BIG, duration: 60 }),
  ];
  const three = [rpm, itpm, otpm];
  lines.push(
    compare(
      "memory, 10,000 keys, RPM + ITPM + OTPM",
      await measure("headroom", (i) =>
        ours.checkSync({ key: keys[i % 10_000] as string, dimensions: three, costs: [1, 1200, 300] }),
      ),
      await measure("rate-limiter-flexible×3", (i) => {
        const key = keys[i % 10_000] as string;
        return Promise.all([
          peers[0]?.consume(key, 1),
          peers[1]?.consume(key, 1200),
          peers[2]?.consume(key, 300),
        ]);
      }),
    ),
  );
}

async function redis(): Promise<void> {
  // One client for everyone, with auto-pipelining: the fairest setup and the fastest for all.
  const client = new Redis(REDIS_URL, { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  await whenReady(client);
  const prefix = `hrbench:${process.pid}:`;
  const ours = new RedisLimiterStore(client, { prefix });
  const peer = new RateLimiterRedis({
    storeClient: client,
    points: BIG,
    duration: 60,
    keyPrefix: `${prefix}rlf`,
  });
  const peers = ["a", "b", "c"].map(
    (name) =>
      new RateLimiterRedis({
        storeClient: client,
        points: BIG,
        duration: 60,
        keyPrefix: `${prefix}rlf${name}`,
      }),
  );
  client.defineCommand("trivial", { numberOfKeys: 1, lua: "return 1" });
  const trivial = client as unknown as { trivial(key: string): Promise<number> };
  const three = [rpm, itpm, otpm];
  const oneDim = [rpm];
  const leased = new LeasedLimiterStore(new RedisLimiterStore(client, { prefix: `${prefix}leased:` }), {
    fraction: 0.005,
  });
  for (const concurrency of [1, 64, 256]) {
    const options = { concurrency, durationMs: 2_000 };
    lines.push(
      compare(
        `redis, 10,000 keys, ${concurrency} in flight`,
        await measure(
          "headroom",
          (i) => ours.check({ key: keys[i % 10_000] as string, dimensions: oneDim, costs: [1] }),
          options,
        ),
        await measure("rate-limiter-flexible", (i) => peer.consume(keys[i % 10_000] as string, 1), options),
      ),
    );
    const ourThree = await measure(
      "headroom",
      (i) => ours.check({ key: keys[i % 10_000] as string, dimensions: three, costs: [1, 1200, 300] }),
      options,
    );
    const peerThree = await measure(
      "rate-limiter-flexible×3",
      (i) => {
        const key = keys[i % 10_000] as string;
        return Promise.all([
          peers[0]?.consume(key, 1),
          peers[1]?.consume(key, 1200),
          peers[2]?.consume(key, 300),
        ]);
      },
      options,
    );
    lines.push(
      compare(
        `redis, RPM + ITPM + OTPM, ${concurrency} in flight`,
        ourThree,
        peerThree,
        concurrency === 256 ? 2.5 : undefined,
      ),
    );
    // Leases (0.5% slices) at API tier 4's limits: 4,000 requests, 2M input and 400k output
    // tokens a minute; a slice then covers six to twenty requests of a key.
    const tier4 = [
      { ...rpm, limit: 4_000 },
      { ...itpm, limit: 2_000_000 },
      { ...otpm, limit: 400_000 },
    ];
    const tier4Rpm = tier4.slice(0, 1);
    const leasedOne = await measure(
      "headroom leased",
      (i) => leased.check({ key: keys[i % 10_000] as string, dimensions: tier4Rpm, costs: [1] }),
      options,
    );
    lines.push(
      compare(
        `redis leased, 10,000 keys, ${concurrency} in flight`,
        leasedOne,
        await measure("rate-limiter-flexible", (i) => peer.consume(keys[i % 10_000] as string, 1), options),
        1,
      ),
    );
    lines.push(
      compare(
        `redis leased, RPM + ITPM + OTPM, ${concurrency} in flight`,
        await measure(
          "headroom leased",
          (i) => leased.check({ key: keys[i % 10_000] as string, dimensions: tier4, costs: [1, 1200, 300] }),
          options,
        ),
        peerThree,
        concurrency === 256 ? 2.5 : undefined,
      ),
    );
    const ceiling = await measure(
      "EVALSHA return 1",
      (i) => trivial.trivial(keys[i % 10_000] as string),
      options,
    );
    lines.push(
      compare(
        `redis, 3-dim vs raw EVALSHA ceiling, ${concurrency} in flight`,
        ourThree,
        ceiling,
        concurrency === 256 ? 0.6 : undefined,
      ),
    );
  }
  const stale = await client.keys(`${prefix}*`);
  for (let i = 0; i < stale.length; i += 1000) await client.del(...stale.slice(i, i + 1000));
  client.disconnect();
}

const only = process.env.BENCH_ONLY;
if (!only || only === "memory") await memory();
if (!only || only === "redis") {
  try {
    await redis();
  } catch (error) {
    lines.push(`redis: skipped (${(error as Error).message})`);
  }
}
console.log(lines.join("\n"));
