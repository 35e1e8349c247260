/**
 * A refusal is read from its decision alone: the dimension it names lacked room at the
 * decision's own instant, its wait is the retry-after, and the message's numbers never show
 * room — whatever the caller's clock says.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { refusalMessage } from "../../src/enforcement/refusal-message.ts";
import { decide } from "../../src/limits/decide.ts";
import { type DimensionSpec, KeyState } from "../../src/limits/dimension.ts";
import { bindingShortfall, shortfalls } from "../../src/limits/shortfall.ts";
import type { PlanLimits } from "../../src/plans/plan-limits.ts";

const BASE = Date.UTC(2026, 4, 6, 12);
const SPECS: DimensionSpec[] = [
  { kind: "rate", name: "rpm", limit: 5, periodMs: 60_000 },
  { kind: "rate", name: "itpm", limit: 400, periodMs: 60_000 },
  { kind: "window", name: "5h", limit: 1_000, periodMs: 5 * 3_600_000 },
  { kind: "concurrency", name: "concurrency", limit: 2, leaseMs: 30_000 },
];
const limits = { planName: "test-plan" } as PlanLimits;

const requestArb = fc.record({
  dt: fc.integer({ min: 0, max: 20_000 }),
  tokens: fc.integer({ min: 0, max: 300 }),
  spend: fc.integer({ min: 0, max: 400 }),
});

describe("the dimension a refusal names", () => {
  test("lacked room at the decision's instant, sets the retry-after, and its message shows no room", () => {
    fc.assert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 30 }), (requests) => {
        const state = new KeyState(SPECS.length);
        let now = BASE;
        requests.forEach(({ dt, tokens, spend }, i) => {
          now += dt;
          const costs = [1, tokens, spend, 1];
          const decision = decide(state, SPECS, now, costs, `lease-${i}`);
          const binding = bindingShortfall(decision, SPECS);
          if (decision.admitted) {
            assert.equal(binding, undefined);
            assert.deepEqual(shortfalls(decision, SPECS), []);
            return;
          }
          assert.ok(binding, "a refused decision names a dimension");
          assert.ok(binding.dimension.admitAtMs > decision.atMs);
          for (const other of shortfalls(decision, SPECS)) assert.ok(other.waitMs <= binding.waitMs);
          const spec = SPECS[binding.index] as DimensionSpec;
          const needed = costs[binding.index] as number;
          if (spec.kind !== "concurrency") assert.ok(binding.dimension.remaining < needed);
          if (decision.retryAfterMs !== null) assert.ok(binding.waitMs <= decision.retryAfterMs);
          const message = refusalMessage({
            limits,
            binding: binding.dimension,
            needed,
            retryAfterMs: decision.retryAfterMs === null ? null : binding.waitMs,
            credits: "not applicable",
          });
          const left = /([\d,]+) left/.exec(message);
          if (left) assert.ok(Number((left[1] as string).replaceAll(",", "")) < needed, message);
        });
      }),
      { numRuns: 300 },
    );
  });

  test("full slots with room on every rate and window: only the slots are named", () => {
    const state = new KeyState(SPECS.length);
    for (let i = 0; i < 2; i++) decide(state, SPECS, BASE, [1, 1, 1, 1], `held-${i}`);
    const decision = decide(state, SPECS, BASE, [1, 1, 1, 1], "third");
    assert.equal(decision.atMs, BASE);
    const binding = bindingShortfall(decision, SPECS);
    assert.equal(binding?.dimension.name, "concurrency");
    assert.equal(shortfalls(decision, SPECS).length, 1, "only the slots lacked room");
  });
});
