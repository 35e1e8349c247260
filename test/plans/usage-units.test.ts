import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { UsageEvent } from "../../src/ledger/usage-event.ts";
import { pricer } from "../../src/ledger/usage-report.ts";
import { defaultPolicy } from "../../src/plans/default-policy.ts";
import { policySchema } from "../../src/plans/schema.ts";
import { UNITS_PER_USD, unitPrices, usageUnits } from "../../src/plans/usage-units.ts";
import type { Usage } from "../../src/protocol/anthropic.ts";

const policy = policySchema.parse(defaultPolicy);
const sonnet = policy.model_classes.sonnet;
const haiku = policy.model_classes.haiku;
assert.ok(sonnet && haiku);

const usage = (fields: Partial<Usage>): Usage => ({
  input_tokens: 0,
  output_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  ...fields,
});
/** Units of `tokens` at `$ per MTok` (a unit is $1e-8, so this is exact integer arithmetic). */
const at = (tokens: number, perMTok: number) => tokens * Math.round(perMTok * 100);

describe("prices: cache writes by TTL, long-context rates", () => {
  test("5-minute and 1-hour cache writes are priced at their own rates", () => {
    const prices = unitPrices(sonnet);
    // 100,000 cache-write tokens of which 40,000 for an hour: 60k × $3.75 + 40k × $6 (2 × input).
    const units = usageUnits(
      prices,
      usage({ cache_creation_input_tokens: 100_000, cache_creation_1h_input_tokens: 40_000 }),
    );
    assert.equal(units, at(60_000, 3.75) + at(40_000, 6));
    assert.equal(units / UNITS_PER_USD, 0.465);
  });

  test("a prompt over 200k tokens is priced at Sonnet's long-context rates, every token of it", () => {
    const prices = unitPrices(sonnet);
    const short = usageUnits(prices, usage({ input_tokens: 200_000, output_tokens: 10_000 }));
    assert.equal(short, at(200_000, 3) + at(10_000, 15), "at the threshold: base rates");
    const long = usageUnits(prices, usage({ input_tokens: 200_001, output_tokens: 10_000 }));
    assert.equal(long, at(200_001, 6) + at(10_000, 22.5));
  });

  test("cached tokens count towards the threshold and are priced at the long rates too", () => {
    const prices = unitPrices(sonnet);
    const units = usageUnits(
      prices,
      usage({ input_tokens: 50_000, cache_read_input_tokens: 150_000, cache_creation_input_tokens: 1_000 }),
    );
    assert.equal(units, at(50_000, 6) + at(150_000, 0.6) + at(1_000, 7.5));
  });

  test("a class without long-context rates prices every prompt the same", () => {
    const prices = unitPrices(haiku);
    assert.equal(usageUnits(prices, usage({ input_tokens: 500_000 })), at(500_000, 1));
  });

  test("the usage report prices ledger rows with the same rule", () => {
    const price = pricer(
      () => policy,
      () => "sonnet",
    );
    const row = {
      model: "claude-sonnet-4-6",
      at_ms: 0,
      input_tokens: 300_000,
      output_tokens: 1_000,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation_1h_input_tokens: 0,
    } as UsageEvent;
    assert.equal(price(row), (at(300_000, 6) + at(1_000, 22.5)) / UNITS_PER_USD);
  });
});
