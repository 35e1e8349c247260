import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type ApiTier, addApiServed, keyLimitTokensPerSecond } from "../../src/planner/api-demand.ts";

const workload = { input_tokens: 8_000, output_tokens: 600, cache_hit_share: 0.9 };

describe("API traffic meets its tier's limits", () => {
  test("a key's limit is the tightest of output tokens/min, uncached input tokens/min and requests/min", () => {
    // 8,000 prompt tokens, 90% cached: 800 uncached per 600 output tokens.
    const close = (actual: number, expected: number) =>
      assert.ok(Math.abs(actual - expected) < 1e-9 * expected, `${actual} ≠ ${expected}`);
    close(keyLimitTokensPerSecond({ rpm: 50, itpm: 30_000, otpm: 8_000 }, workload), 8_000 / 60);
    close(keyLimitTokensPerSecond({ rpm: 50, itpm: 6_000, otpm: 80_000 }, workload), 75);
    close(keyLimitTokensPerSecond({ rpm: 1, itpm: 1e9, otpm: 1e9 }, workload), 600 / 60);
  });

  test("raising limits serves more only to keys that were bound by them", () => {
    const tier: ApiTier = {
      name: "api-tier-1",
      mix: [1],
      perKey: 100,
      limitPerKey: [150],
      cohorts: [
        { users: 10, intensity: 1, offsetMinutes: 0, dayPhase: 0, band: [0, 1], sigma: 0 }, // wants 100: never bound
        { users: 2, intensity: 3, offsetMinutes: 0, dayPhase: 0, band: [0, 1], sigma: 0 }, // wants 300: bound at 150
      ],
    };
    const served = (multiplier: number) => {
      const out = new Float64Array(1);
      const totals = addApiServed([tier], () => 1, multiplier, out);
      return { tokens: out[0] as number, cut: 1 - totals.served / totals.wanted };
    };
    assert.deepEqual(served(1), { tokens: 10 * 100 + 2 * 150, cut: 1 - 1_300 / 1_600 });
    assert.equal(served(2).tokens, 10 * 100 + 2 * 300, "doubling limits frees the bound keys only");
    assert.equal(served(16).tokens, served(2).tokens, "past what keys want, higher limits add nothing");
    assert.equal(served(16).cut, 0);
  });
});
