/**
 * Leases over the Redis limiter: several gateways spending one key's budget never admit more
 * than a limit allows, refuse early by at most gateways × fraction × limit, and most decisions
 * make no round trip. Real Redis, a frozen limiter clock (no refill), seeded interleavings.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { DimensionSpec } from "../../src/limits/dimension.ts";
import { LeasedLimiterStore } from "../../src/stores/leased-limiter.ts";
import { connectRedis, whenReady } from "../../src/stores/redis-connection.ts";
import { RedisLimiterStore } from "../../src/stores/redis-limiter.ts";
import { REDIS_URL, redisScope } from "../helpers/redis.ts";

const { skip, prefix } = await redisScope("leases");

const NOW = Date.UTC(2026, 6, 1, 12);
async function redisStore(): Promise<RedisLimiterStore> {
  const client = connectRedis(REDIS_URL);
  await whenReady(client);
  return new RedisLimiterStore(client, { prefix, now: () => NOW });
}

let keys = 0;
const newKey = () => `leased-${process.pid}-${keys++}`;

describe("leases of a key's budget", { skip }, () => {
  test("three gateways admit no more than the limits, and at least all but their slices", async () => {
    const fraction = 0.005;
    // 3,000 requests of 1–9 units (5 on average) ask for about 15,000: the week binds.
    const rpm: DimensionSpec = { kind: "rate", name: "rpm", limit: 2_400, periodMs: 60_000 };
    const week: DimensionSpec = { kind: "window", name: "week", limit: 8_000, periodMs: 7 * 86_400_000 };
    const dimensions = [rpm, week];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 9 })), {
          minLength: 3_000,
          maxLength: 3_000,
        }),
        async (steps) => {
          const key = newKey();
          const gateways = await Promise.all(
            [0, 1, 2].map(
              async () => new LeasedLimiterStore(await redisStore(), { fraction, idleMs: 60_000 }),
            ),
          );
          let requests = 0;
          let units = 0;
          // Every gateway's requests go in batches, as concurrent requests would.
          for (let i = 0; i < steps.length; i += 8) {
            const batch = steps.slice(i, i + 8);
            const decisions = await Promise.all(
              batch.map(([gateway, cost]) =>
                (gateways[gateway] as LeasedLimiterStore).check({ key, dimensions, costs: [1, cost] }),
              ),
            );
            decisions.forEach((decision, j) => {
              if (!decision.admitted) return;
              requests++;
              units += batch[j]?.[1] ?? 0;
            });
          }
          assert.ok(requests <= rpm.limit, `${requests} requests admitted, limit ${rpm.limit}`);
          assert.ok(units <= week.limit, `${units} units admitted, limit ${week.limit}`);
          // The early refusals: at most every gateway's unspent slice (and one request's cost).
          const slack = 3 * Math.floor(week.limit * fraction) + 9;
          const rpmSlack = 3 * Math.floor(rpm.limit * fraction) + 1;
          assert.ok(
            units >= week.limit - slack || requests >= rpm.limit - rpmSlack,
            `a limit was reached: ${units}/${week.limit} units, ${requests}/${rpm.limit} requests`,
          );
          // Give every lease back: the store then holds exactly what was admitted.
          for (const gateway of gateways) await gateway.close();
          const store = await redisStore();
          const peek = await store.check({ key, dimensions, costs: [0, 0], dryRun: true });
          await store.close();
          assert.equal(peek.dimensions[1]?.remaining, week.limit - units, "nothing held back is lost");
          assert.equal(peek.dimensions[0]?.remaining, rpm.limit - requests);
        },
      ),
      { numRuns: 3, seed: 20261130, endOnFailure: true },
    );
  });

  test("within a slice decisions are local: 1,001 requests, one round trip", async () => {
    const dimensions: DimensionSpec[] = [{ kind: "rate", name: "rpm", limit: 100_000, periodMs: 60_000 }];
    const leased = new LeasedLimiterStore(await redisStore(), { fraction: 0.01, idleMs: 60_000 });
    const key = newKey();
    for (let i = 0; i < 1_001; i++) {
      const decision = await leased.check({ key, dimensions, costs: [1] });
      assert.equal(decision.admitted, true);
    }
    assert.equal(leased.roundTrips, 1, "the first request and a slice of 1,000 in one round trip");
    const last = await leased.check({ key, dimensions, costs: [1] });
    assert.equal(leased.roundTrips, 2, "the next takes another slice (an empty rest is not sent back)");
    assert.equal(last.dimensions[0]?.remaining, 100_000 - 1_002, "headers count what was spent");
    await leased.close();
  });

  test("settlement: refunds join the lease, larger charges go to the store; concurrency is never leased", async () => {
    const dimensions: DimensionSpec[] = [
      { kind: "window", name: "5h", limit: 10_000, periodMs: 5 * 3_600_000 },
    ];
    const store = await redisStore();
    const leased = new LeasedLimiterStore(store, { fraction: 0.01, idleMs: 60_000 });
    const key = newKey();
    await leased.check({ key, dimensions, costs: [50] });
    const trips = leased.roundTrips;
    await leased.reconcile({ key, dimensions, deltas: [-30] });
    await leased.reconcile({ key, dimensions, deltas: [20] });
    assert.equal(leased.roundTrips, trips, "both settled in the lease");
    await leased.reconcile({ key, dimensions, deltas: [500] });
    assert.equal(leased.roundTrips, trips + 1, "more than the lease holds goes to the store");
    await leased.close();
    const check = await redisStore();
    const peek = await check.check({ key, dimensions, costs: [0], dryRun: true });
    assert.equal(peek.dimensions[0]?.remaining, 10_000 - (50 - 30 + 20 + 500));
    await check.close();

    const withSlots: DimensionSpec[] = [
      { kind: "rate", name: "rpm", limit: 1_000, periodMs: 60_000 },
      { kind: "concurrency", name: "concurrency", limit: 5, leaseMs: 60_000 },
    ];
    const slots = new LeasedLimiterStore(await redisStore(), { fraction: 0.01 });
    for (let i = 0; i < 3; i++)
      await slots.check({ key: newKey(), dimensions: withSlots, costs: [1, 0], leaseId: `l${i}` });
    assert.equal(slots.roundTrips, 3, "a request with a concurrency slot always asks the store");
    await slots.close();
  });
});
