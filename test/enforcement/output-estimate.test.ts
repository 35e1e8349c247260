import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_OUTPUT_ESTIMATE, OutputEstimates } from "../../src/enforcement/output-estimate.ts";

describe("the output estimate", () => {
  test("starts at the default, follows an account's replies, never above max_tokens", () => {
    const estimates = new OutputEstimates();
    assert.equal(estimates.estimate("a", 10_000), DEFAULT_OUTPUT_ESTIMATE);
    assert.equal(estimates.estimate("a", 100), 100, "capped by max_tokens");
    for (let i = 0; i < 50; i++) estimates.observe("a", 2_000);
    assert.ok(
      Math.abs(estimates.estimate("a", 10_000) - 2_000) <= 1,
      "converges on what the account generates",
    );
    assert.equal(estimates.estimate("b", 10_000), DEFAULT_OUTPUT_ESTIMATE, "accounts do not share");
    estimates.observe("b", 0);
    assert.equal(estimates.size, 1, "an empty reply teaches nothing");
  });

  test("bounded: past its capacity the account heard from least recently is forgotten", () => {
    const estimates = new OutputEstimates(3);
    for (const account of ["a", "b", "c"]) estimates.observe(account, 1_000);
    estimates.observe("a", 1_000); // a is now the most recent
    estimates.observe("d", 1_000);
    assert.equal(estimates.size, 3);
    assert.equal(estimates.estimate("b", 10_000), DEFAULT_OUTPUT_ESTIMATE, "b, the oldest, was forgotten");
    assert.notEqual(estimates.estimate("a", 10_000), DEFAULT_OUTPUT_ESTIMATE);
    for (let i = 0; i < 10_000; i++) estimates.observe(`k${i}`, 500);
    assert.equal(estimates.size, 3, "a million keys would not grow it either");
  });
});
