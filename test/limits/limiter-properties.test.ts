import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { Redis } from "ioredis";
import type { Decision, DimensionSpec } from "../../src/limits/dimension.ts";
import type { LimiterStore } from "../../src/limits/limiter-store.ts";
import { MemoryLimiterStore } from "../../src/stores/memory-limiter.ts";
import { connectRedis, whenReady } from "../../src/stores/redis-connection.ts";
import { RedisLimiterStore } from "../../src/stores/redis-limiter.ts";
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from "../helpers/redis.ts";
import { ReferenceLimiter } from "./reference-model.ts";

const BASE = Date.UTC(2026, 4, 6, 12);

const dimensionArb: fc.Arbitrary<DimensionSpec> = fc.oneof(
  fc.record({
    kind: fc.constant("rate" as const),
    name: fc.constant(""),
    limit: fc.integer({ min: 1, max: 20 }),
    periodMs: fc.constantFrom(1_000, 7_000, 60_000),
  }),
  fc.record({
    kind: fc.constant("window" as const),
    name: fc.constant(""),
    limit: fc.integer({ min: 1, max: 50 }),
    periodMs: fc.integer({ min: 1_000, max: 20_000 }),
  }),
  fc
    .record({
      limit: fc.integer({ min: 1, max: 50 }),
      periodMs: fc.integer({ min: 1_000, max: 20_000 }),
      offset: fc.integer({ min: 0, max: 19_999 }),
    })
    .map(
      ({ limit, periodMs, offset }): DimensionSpec => ({
        kind: "window",
        name: "",
        limit,
        periodMs,
        anchorMs: BASE - (offset % periodMs),
      }),
    ),
  fc.record({
    kind: fc.constant("concurrency" as const),
    name: fc.constant(""),
    limit: fc.integer({ min: 1, max: 3 }),
    leaseMs: fc.integer({ min: 100, max: 5_000 }),
  }),
);

type Op =
  | { dt: number; kind: "check"; amounts: number[] }
  | { dt: number; kind: "reconcile"; amounts: number[]; lease: number };

const scenarioArb = fc.array(dimensionArb, { minLength: 1, maxLength: 4 }).chain((dims) => {
  const named = dims.map((dim, i) => ({ ...dim, name: `d${i}` }));
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        dt: fc.integer({ min: 0, max: 3_000 }),
        kind: fc.constant("check" as const),
        amounts: fc.array(fc.integer({ min: 0, max: 25 }), {
          minLength: named.length,
          maxLength: named.length,
        }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        dt: fc.integer({ min: 0, max: 3_000 }),
        kind: fc.constant("reconcile" as const),
        amounts: fc.array(fc.integer({ min: -10, max: 10 }), {
          minLength: named.length,
          maxLength: named.length,
        }),
        lease: fc.nat(40),
      }),
    },
  );
  return fc.record({ dims: fc.constant(named), ops: fc.array(op, { minLength: 1, maxLength: 40 }) });
});

/** Runs a scenario on a store and returns its decisions (one per check). */
async function run(
  store: LimiterStore,
  clock: { now: number },
  key: string,
  scenario: { dims: DimensionSpec[]; ops: Op[] },
) {
  const decisions: Decision[] = [];
  clock.now = BASE;
  for (const [i, op] of scenario.ops.entries()) {
    clock.now += op.dt;
    if (op.kind === "check")
      decisions.push(
        await store.check({ key, dimensions: scenario.dims, costs: op.amounts, leaseId: `l${i}` }),
      );
    else
      await store.reconcile({ key, dimensions: scenario.dims, deltas: op.amounts, leaseId: `l${op.lease}` });
  }
  return decisions;
}

function runReference(scenario: { dims: DimensionSpec[]; ops: Op[] }) {
  const reference = new ReferenceLimiter();
  const decisions: Decision[] = [];
  let now = BASE;
  for (const [i, op] of scenario.ops.entries()) {
    now += op.dt;
    if (op.kind === "check") decisions.push(reference.check("k", scenario.dims, now, op.amounts, `l${i}`));
    else reference.reconcile("k", scenario.dims, now, op.amounts, `l${op.lease}`);
  }
  return decisions;
}

describe("limiter properties", () => {
  test("the memory store makes exactly the reference model's decisions", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const clock = { now: BASE };
        const decisions = await run(new MemoryLimiterStore({ now: () => clock.now }), clock, "k", scenario);
        assert.deepEqual(decisions, runReference(scenario));
      }),
      { numRuns: 400 },
    );
  });

  test("over any interval a bucket admits at most burst + rate × interval; a window at most its limit", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const clock = { now: BASE };
        const store = new MemoryLimiterStore({ now: () => clock.now });
        const checksOnly = { dims: scenario.dims, ops: scenario.ops.filter((op) => op.kind === "check") };
        const admitted: Array<{ at: number; amounts: number[]; resets: number[] }> = [];
        clock.now = BASE;
        for (const op of checksOnly.ops) {
          clock.now += op.dt;
          const decision = await store.check({
            key: "k",
            dimensions: scenario.dims,
            costs: op.amounts,
            leaseId: String(clock.now),
          });
          if (decision.admitted)
            admitted.push({
              at: clock.now,
              amounts: op.amounts,
              resets: decision.dimensions.map((d) => d.resetAtMs),
            });
        }
        scenario.dims.forEach((dim, d) => {
          if (dim.kind === "rate") {
            for (let i = 0; i < admitted.length; i++) {
              let total = 0;
              for (let j = i; j < admitted.length; j++) {
                total += admitted[j]?.amounts[d] ?? 0;
                const span = (admitted[j]?.at ?? 0) - (admitted[i]?.at ?? 0);
                assert.ok(
                  total <= dim.limit + Math.floor((span * dim.limit) / dim.periodMs),
                  `rate ${dim.name} over ${span} ms: ${total}`,
                );
              }
            }
          } else if (dim.kind === "window") {
            const perWindow = new Map<number, number>();
            for (const entry of admitted) {
              const reset = entry.resets[d] ?? 0;
              perWindow.set(reset, (perWindow.get(reset) ?? 0) + (entry.amounts[d] ?? 0));
            }
            for (const total of perWindow.values()) assert.ok(total <= dim.limit);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  test("a request retried exactly at retryAfter is admitted", async () => {
    let refusedWithRetry = 0;
    await fc.assert(
      fc.asyncProperty(
        scenarioArb,
        fc.array(fc.integer({ min: 0, max: 25 }), { minLength: 4, maxLength: 4 }),
        async (scenario, costs) => {
          const clock = { now: BASE };
          const store = new MemoryLimiterStore({ now: () => clock.now });
          await run(store, clock, "k", scenario);
          const request = {
            key: "k",
            dimensions: scenario.dims,
            costs: costs.slice(0, scenario.dims.length),
            leaseId: "retry",
          };
          const first = await store.check(request);
          if (first.admitted || first.retryAfterMs === null) return;
          refusedWithRetry++;
          clock.now += first.retryAfterMs;
          assert.equal((await store.check(request)).admitted, true);
        },
      ),
      { numRuns: 400 },
    );
    // The property says nothing unless some runs were refused with a time to retry.
    assert.ok(refusedWithRetry >= 40, `only ${refusedWithRetry} of 400 runs were refused with a retry time`);
  });
});

const skip = await redisSkipReason();

describe("limiter properties on Redis", { skip }, () => {
  const prefix = uniquePrefix("props");
  const admin = skip ? undefined : new Redis(REDIS_URL);
  after(async () => {
    if (admin) {
      await deletePrefix(admin, prefix);
      admin.disconnect();
    }
  });

  test("the Redis store (Lua) makes exactly the memory store's and the reference model's decisions", async () => {
    const clock = { now: BASE };
    const client = connectRedis(REDIS_URL);
    await whenReady(client);
    const store = new RedisLimiterStore(client, { prefix, now: () => clock.now });
    let run_ = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const key = `run${run_++}`;
        const redisDecisions = await run(store, clock, key, scenario);
        const memoryClock = { now: BASE };
        const memoryDecisions = await run(
          new MemoryLimiterStore({ now: () => memoryClock.now }),
          memoryClock,
          key,
          scenario,
        );
        assert.deepEqual(redisDecisions, memoryDecisions);
        assert.deepEqual(redisDecisions, runReference(scenario));
      }),
      { numRuns: 150 },
    );
    await store.close();
  });
});
