import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defaultPolicy } from "../../src/plans/default-policy.ts";
import { classFor, creditLimits, planLimits } from "../../src/plans/plan-limits.ts";
import { type Policy, policySchema } from "../../src/plans/schema.ts";
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

  test("the dimensions are exactly what the plan says: kinds, periods, lease and the calendar month", () => {
    const HOUR = 3_600_000;
    assert.deepEqual(planLimits(defaultPolicy, "max-5x", "sonnet", now)?.dimensions, [
      { kind: "window", name: "5h", limit: usdToUnits(12), periodMs: 5 * HOUR },
      { kind: "window", name: "week", limit: usdToUnits(100), periodMs: 7 * 24 * HOUR },
      { kind: "window", name: "week-sonnet", limit: usdToUnits(80), periodMs: 7 * 24 * HOUR },
    ]);
    // February 2028 has 29 days; the spend window is that calendar month, in UTC.
    const leapFebruary = Date.UTC(2028, 1, 15, 18);
    assert.deepEqual(planLimits(defaultPolicy, "api-tier-1", "sonnet", leapFebruary)?.dimensions, [
      { kind: "rate", name: "rpm", limit: 50, periodMs: 60_000 },
      { kind: "rate", name: "itpm", limit: 30_000, periodMs: 60_000 },
      { kind: "rate", name: "otpm", limit: 8_000, periodMs: 60_000 },
      { kind: "concurrency", name: "concurrency", limit: 10, leaseMs: 60_000 },
      {
        kind: "window",
        name: "month",
        limit: usdToUnits(100),
        periodMs: 29 * 24 * HOUR,
        anchorMs: Date.UTC(2028, 1, 1),
      },
    ]);
  });

  test("peak hours: `shrink` lowers the 5-hour budget, `multiplier` raises what usage costs", () => {
    const withPeak = (mode: "shrink" | "multiplier", appliesTo: string[] = ["5h"]): Policy => {
      const pro = defaultPolicy.plans.pro;
      assert.ok(pro?.kind === "subscription");
      return policySchema.parse({
        ...defaultPolicy,
        version: `peak-${mode}-${appliesTo.join("-")}`,
        plans: {
          pro: {
            ...pro,
            peak: {
              time_zone: "UTC",
              weekdays: [1, 2, 3, 4, 5],
              hours: [9, 17],
              mode,
              factor: 0.5,
              applies_to: appliesTo,
            },
          },
        },
      });
    };
    const tuesdayNoon = Date.UTC(2026, 5, 30, 12);
    const tuesdayNight = Date.UTC(2026, 5, 30, 22);
    const shrink = withPeak("shrink");
    const budgets = (at: number) => planLimits(shrink, "pro", "sonnet", at)?.dimensions.map((d) => d.limit);
    assert.deepEqual(budgets(tuesdayNight), [usdToUnits(2.4), usdToUnits(20)]);
    assert.deepEqual(
      budgets(tuesdayNoon),
      [usdToUnits(1.2), usdToUnits(20)],
      "only the 5-hour budget shrinks",
    );
    assert.equal(planLimits(shrink, "pro", "sonnet", tuesdayNoon)?.peak, true);
    const plain = planLimits(shrink, "pro", "sonnet", tuesdayNight)?.costs(usage);
    assert.deepEqual(planLimits(shrink, "pro", "sonnet", tuesdayNoon)?.costs(usage), plain);

    const multiplier = withPeak("multiplier");
    const offPeak = planLimits(multiplier, "pro", "sonnet", tuesdayNight);
    const onPeak = planLimits(multiplier, "pro", "sonnet", tuesdayNoon);
    assert.deepEqual(onPeak?.dimensions, offPeak?.dimensions, "budgets stay");
    const units = 1_000 * 300 + 200 * 1_500 + 300 * 375 + 50_000 * 30;
    assert.deepEqual(offPeak?.costs(usage), [units, units]);
    // The multiplier counts against the 5-hour window only, unless the plan names the week too.
    assert.deepEqual(onPeak?.costs(usage), [Math.ceil(units * 0.5), units]);
    const both = withPeak("multiplier", ["5h", "week"]);
    assert.deepEqual(planLimits(both, "pro", "sonnet", tuesdayNoon)?.costs(usage), [
      Math.ceil(units * 0.5),
      Math.ceil(units * 0.5),
    ]);
  });

  test("usage credits: one monthly window at API prices, whatever the peak rule", () => {
    const pro = planLimits(defaultPolicy, "pro", "opus", now);
    assert.ok(pro);
    const credits = creditLimits(pro, 7.5, now);
    assert.deepEqual(credits.dimensions, [
      {
        kind: "window",
        name: "credits",
        limit: usdToUnits(7.5),
        periodMs: 31 * 24 * 3_600_000,
        anchorMs: Date.UTC(2026, 6, 1),
      },
    ]);
    // Opus: $5 in, $25 out, $6.25 cache write, $0.50 cache read per million tokens.
    assert.deepEqual(credits.costs(usage), [1_000 * 500 + 200 * 2_500 + 300 * 625 + 50_000 * 50]);
  });

  test("a family no class lists is priced like the dearest class, wherever that class is listed", () => {
    const cheapestFirst = policySchema.parse({
      ...defaultPolicy,
      version: "cheapest-first",
      plans: { pro: defaultPolicy.plans.pro },
      model_classes: {
        small: { families: ["haiku"], input: 1, output: 5, cache_write: 1.25, cache_read: 0.1 },
        large: { families: ["opus"], input: 5, output: 25, cache_write: 6.25, cache_read: 0.5 },
        middle: { families: ["sonnet"], input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
      },
    });
    assert.equal(classFor(cheapestFirst, "mystery")[0], "large");
    assert.equal(classFor(cheapestFirst, "sonnet")[0], "middle");
    assert.throws(
      () => classFor({ ...cheapestFirst, model_classes: {} }, "sonnet"),
      /policy cheapest-first has no model classes/,
    );
  });
});
