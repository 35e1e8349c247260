import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DimensionSpec } from "../../src/limits/dimension.ts";
import { connectRedisCluster, whenReady } from "../../src/stores/redis-connection.ts";
import { RedisLimiterStore } from "../../src/stores/redis-limiter.ts";
import { uniquePrefix } from "../helpers/redis.ts";
import { clusterSkipReason, type LocalCluster, startCluster } from "../helpers/redis-cluster.ts";
import { describeLimiterContract } from "./limiter-contract.ts";
import { describeLostRequests } from "./lost-requests-contract.ts";

const skip = await clusterSkipReason();
const prefix = uniquePrefix("cluster");
let cluster: LocalCluster | undefined;

before(async () => {
  if (!skip) cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
});

async function clusterClient() {
  const client = connectRedisCluster(cluster?.nodes ?? [], { timeoutMs: 1_000 });
  await whenReady(client, 10_000);
  return client;
}

async function clusterStore(clock?: { now: number }) {
  return new RedisLimiterStore(await clusterClient(), { prefix, ...(clock ? { now: () => clock.now } : {}) });
}

describeLimiterContract("Redis Cluster (3 masters)", (clock) => clusterStore(clock), { skip });
describeLostRequests(
  "Redis Cluster",
  async (clock, lostPrefix) =>
    new RedisLimiterStore(await clusterClient(), { prefix: lostPrefix, now: () => clock.now }),
  { skip, prefix },
);

describe("limiter on Redis Cluster", { skip }, () => {
  test("keys spread over the masters and every multi-key script stays in one slot", async () => {
    const client = await clusterClient();
    const store = new RedisLimiterStore(client, { prefix: `${prefix}spread:` });
    const dims: DimensionSpec[] = [
      { kind: "rate", name: "rpm", limit: 10, periodMs: 60_000 },
      { kind: "concurrency", name: "conc", limit: 2, leaseMs: 5_000 },
    ];
    // Many accounts hash to slots on all three masters; a CROSSSLOT error would reject.
    for (let i = 0; i < 60; i++) {
      const decision = await store.check({
        key: `account-${i}`,
        dimensions: dims,
        costs: [1, 1],
        leaseId: "x",
      });
      assert.equal(decision.admitted, true);
    }
    const perMaster = await Promise.all(client.nodes("master").map((node) => node.keys(`${prefix}spread:*`)));
    assert.equal(perMaster.length, 3);
    for (const keys of perMaster) assert.ok(keys.length > 0, "every master holds some accounts");
    assert.equal(perMaster.flat().length, 120, "a state hash and a lease set per account");
    await store.close();
  });
});
