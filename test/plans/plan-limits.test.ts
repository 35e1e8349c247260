import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defaultPolicy } from "../../src/plans/default-policy.ts";
import { planLimits } from "../../src/plans/plan-limits.ts";
import { usdToUnits } from "../../src/plans/usage-units.ts";

const now = Date.UTC(2026, 6, 1, 12);
const usage = {
  input_tokens: 1_000,
  output_tokens: 200,
  cache_creation_input_tokens: 300,
  cache_read_input_tokens: 50_000,
};

describe("plan limits", () => {
  test("API plans: input tokens/min count input and cache writes, not cache reads; spend counts everything", () => {
    const limits = planLimits(defaultPolicy, "api-tier-1", "sonnet", now);
    assert.ok(limits);
    assert.deepEqual(
      limits.dimensions.map((d) => d.name),
      ["rpm", "itpm", "otpm", "concurrency", "month"],
    );
    const [rpm, itpm, otpm, , month] = limits.costs(usage);
    assert.deepEqual([rpm, itpm, otpm], [1, 1_300, 200]);
    // $3, $15, $3.75 and $0.30 per million tokens, in units of $0.00000001.
    assert.equal(month, 1_000 * 300 + 200 * 1_500 + 300 * 375 + 50_000 * 30);
  });

  test("model classes have their own rate limits; unknown families are priced as the dearest class", () => {
    assert.equal(planLimits(defaultPolicy, "api-tier-1", "haiku", now)?.dimensions[1]?.limit, 50_000);
    assert.equal(planLimits(defaultPolicy, "api-tier-1", "sonnet", now)?.dimensions[1]?.limit, 30_000);
    assert.equal(planLimits(defaultPolicy, "pro", "mystery", now)?.modelClass, "opus");
  });

  test("subscription budgets are usage units; Max has a Sonnet-only weekly cap", () => {
    const pro = planLimits(defaultPolicy, "pro", "sonnet", now);
    assert.deepEqual(
      pro?.dimensions.map((d) => [d.name, d.limit]),
      [
        ["5h", usdToUnits(2.4)],
        ["week", usdToUnits(20)],
      ],
    );
    const max = planLimits(defaultPolicy, "max-5x", "sonnet", now);
    assert.deepEqual(
      max?.dimensions.map((d) => d.name),
      ["5h", "week", "week-sonnet"],
    );
    assert.equal(planLimits(defaultPolicy, "max-5x", "opus", now)?.dimensions.length, 2);
  });

  test("capacity scaling: limits follow capacity(t) / baseline", () => {
    const scaled = { ...defaultPolicy, version: "scaled", capacity_scaling: { baseline: 100 } };
    const half = planLimits(scaled, "api-tier-2", "sonnet", now, 0.5);
    const double = planLimits(scaled, "api-tier-2", "sonnet", now, 2);
    assert.equal(half?.dimensions[0]?.limit, 500);
    assert.equal(double?.dimensions[0]?.limit, 2_000);
    assert.equal(double?.dimensions[1]?.limit, 900_000);
  });

  test("an unknown plan has no limits", () => {
    assert.equal(planLimits(defaultPolicy, "gold", "sonnet", now), undefined);
  });
});
