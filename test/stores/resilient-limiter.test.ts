/**
 * The breaker in front of Redis, against a real Redis behind a proxy that can go away or hang:
 * one failed call per outage, a local limiter that starts from what was known, fail closed as a
 * setting, and the outage's window usage back in Redis when it returns.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HeadroomError } from "../../src/common/errors.ts";
import type { DimensionSpec } from "../../src/limits/dimension.ts";
import { connectRedis, whenReady } from "../../src/stores/redis-connection.ts";
import { RedisLimiterStore } from "../../src/stores/redis-limiter.ts";
import { type OnStoreFailure, ResilientLimiterStore } from "../../src/stores/resilient-limiter.ts";
import { REDIS_URL, redisScope } from "../helpers/redis.ts";
import { type FreezableProxy, startFreezableProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait.ts";

const { skip, prefix, admin } = await redisScope("resilient");

const rpm: DimensionSpec = { kind: "rate", name: "rpm", limit: 10, periodMs: 60_000 };
const session: DimensionSpec = { kind: "window", name: "5h", limit: 100, periodMs: 5 * 3_600_000 };

interface Harness {
  proxy: FreezableProxy;
  redis: RedisLimiterStore;
  store: ResilientLimiterStore;
  clock: { now: number };
  errors: number;
  states: boolean[];
  logLines: string[];
  close(): Promise<void>;
}

async function harness(onFailure: OnStoreFailure = "open"): Promise<Harness> {
  const proxy = await startFreezableProxy(new URL(REDIS_URL));
  const client = connectRedis(proxy.url, { timeoutMs: 150 });
  client.on("error", () => {});
  await whenReady(client);
  // One clock for Redis's script and the local limiter: the test decides what time it is.
  const clock = { now: Date.UTC(2026, 11, 1, 9) };
  const redis = new RedisLimiterStore(client, { prefix, now: () => clock.now });
  const h: Harness = {
    proxy,
    redis,
    clock,
    errors: 0,
    states: [],
    logLines: [],
    store: undefined as unknown as ResilientLimiterStore,
    async close() {
      await h.store.close();
      await proxy.close();
    },
  };
  const log = (_fields: object, message: string) => {
    h.logLines.push(message);
  };
  h.store = new ResilientLimiterStore(redis, {
    onFailure,
    probeMs: 20,
    clock: () => clock.now,
    logger: { warn: log, info: log },
    onError: () => h.errors++,
    onStateChange: (up) => h.states.push(up),
  });
  return h;
}

/** How many of `count` one-request checks the store admits. */
async function admitted(store: ResilientLimiterStore, key: string, count: number, dimensions = [rpm]) {
  let yes = 0;
  for (let i = 0; i < count; i++) {
    const decision = await store.check({ key, dimensions, costs: dimensions.map(() => 1) });
    if (decision.admitted) yes++;
  }
  return yes;
}

describe("the limiter store behind a breaker", { skip }, () => {
  test("a hung Redis costs one timed-out call per outage, not one per request, and one log line", async () => {
    const h = await harness();
    try {
      assert.equal(await admitted(h.store, "hung", 2), 2);
      h.proxy.freeze();
      // Forty requests while Redis hangs: only the first one asks it (and waits for the timeout).
      await admitted(h.store, "hung", 40);
      assert.equal(h.errors, 1, "the store was asked once");
      assert.deepEqual(h.states, [false]);
      assert.deepEqual(h.logLines, [
        "limiter store unavailable: deciding locally (fail open) until it answers",
      ]);
      assert.equal(h.store.isUp, false);
    } finally {
      await h.close();
    }
  });

  test("failing open, the local limiter starts from the usage Redis last reported for the key", async () => {
    const h = await harness();
    try {
      // 6 of the key's 10 requests per minute spent on Redis, then Redis goes away.
      assert.equal(await admitted(h.store, "seeded", 6), 6);
      h.proxy.down();
      // At the same instant only the 4 left are admitted locally — not a fresh 10.
      assert.equal(await admitted(h.store, "seeded", 10), 4);
      // A key Redis never reported on starts fresh.
      assert.equal(await admitted(h.store, "unseen", 12), 10);
      // Thirty seconds on, the bucket has refilled by 5 requests, locally as on Redis.
      h.clock.now += 30_000;
      assert.equal(await admitted(h.store, "seeded", 10), 5);
    } finally {
      await h.close();
    }
  });

  test("a window's usage admitted during the outage is in Redis after it returns, once", async () => {
    const h = await harness();
    try {
      assert.equal(await admitted(h.store, "window", 30, [session]), 30);
      h.proxy.down();
      // Seeded with the 30: 70 more fit locally, the 71st does not.
      assert.equal(await admitted(h.store, "window", 71, [session]), 70);
      h.proxy.up();
      await waitFor(() => h.store.isUp, "the probe to see Redis again");
      assert.deepEqual(h.states, [false, true]);
      assert.equal(h.logLines.at(-1), "limiter store answers again: deciding on it");
      const outage = h.store.takeOutageUsage();
      assert.deepEqual(
        outage.map(({ key, costs }) => ({ key, costs })),
        [{ key: "window", costs: [70] }],
      );
      assert.deepEqual(h.store.takeOutageUsage(), [], "taken once");
      for (const usage of outage) await h.redis.replay(usage);
      // Redis now holds 30 + 70: the window is spent for this key on every gateway.
      const peek = await h.store.check({ key: "window", dimensions: [session], costs: [1], dryRun: true });
      assert.equal(peek.admitted, false);
      assert.equal(peek.dimensions[0]?.remaining, 0);
    } finally {
      await h.close();
    }
  });

  test("a request Redis charged and the outage settled is not refunded as lost once Redis returns", async () => {
    const h = await harness();
    try {
      const request = { key: "tracked", dimensions: [session], leaseId: "r-1", refundIfLostAfterMs: 3_000 };
      assert.ok((await h.store.check({ ...request, costs: [10] })).admitted, "charged 10 on Redis");
      h.proxy.down();
      // It used 15: settled on the local limiter while Redis is away.
      await h.store.reconcile({ ...request, deltas: [5] });
      assert.equal(h.store.isUp, false);
      h.proxy.up();
      await waitFor(() => h.store.isUp, "the probe to see Redis again");
      for (const usage of h.store.takeOutageUsage()) await h.redis.replay(usage);
      // Long past the time it would be lost: a sweep may run before or after its record is
      // ended; either way the record goes and the window holds what the request used.
      h.clock.now += 60_000;
      await h.store.refundLost();
      const record = `${prefix}{tracked}:charge:r-1`;
      await waitFor(async () => (await admin?.exists(record)) === 0, "its charge record to be ended");
      const peek = await h.store.check({ key: "tracked", dimensions: [session], costs: [0], dryRun: true });
      assert.equal(peek.dimensions[0]?.remaining, 85);
    } finally {
      await h.close();
    }
  });

  test("a sweep for lost requests that finds Redis hung opens the breaker, once, like any call", async () => {
    const h = await harness();
    try {
      h.proxy.freeze();
      assert.equal(await h.store.refundLost(), 0);
      assert.equal(h.store.isUp, false);
      assert.equal(await h.store.refundLost(), 0, "while it is down, sweeps do not ask it");
      assert.equal(h.errors, 1);
      assert.deepEqual(h.logLines, [
        "limiter store unavailable: deciding locally (fail open) until it answers",
      ]);
    } finally {
      await h.close();
    }
  });

  test("failing closed refuses with 503 api_error and retry-after while Redis is away, and admits again after", async () => {
    const h = await harness("closed");
    try {
      assert.equal(await admitted(h.store, "closed", 1), 1);
      h.proxy.down();
      for (let i = 0; i < 3; i++) {
        await assert.rejects(
          h.store.check({ key: "closed", dimensions: [rpm], costs: [1] }),
          (error: unknown) =>
            error instanceof HeadroomError &&
            error.status === 503 &&
            error.type === "api_error" &&
            /^Rate limiter unavailable; retry after 1 s\.$/.test(error.message) &&
            error.headers["retry-after"] === "1",
        );
      }
      assert.equal(h.errors, 1);
      assert.deepEqual(h.logLines, [
        "limiter store unavailable: refusing with 503 (fail closed) until it answers",
      ]);
      h.proxy.up();
      await waitFor(() => h.store.isUp, "the probe to see Redis again");
      assert.equal(await admitted(h.store, "closed", 1), 1);
    } finally {
      await h.close();
    }
  });
});
