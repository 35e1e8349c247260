import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { rebalance, rebalancePeriodSteps, scheduleShares } from "../../src/planner/allocation.ts";

const open: Array<[number, number]> = [
  [0, 1],
  [0, 1],
  [0, 1],
];

describe("GPU allocation between model families", () => {
  test("shares follow need, so every family runs at the same utilisation", () => {
    const shares = rebalance([0.1, 0.3, 0.1], 1, open, [0.2, 0.5, 0.3]);
    assert.deepEqual(
      shares.map((share) => Math.round(share * 1000) / 1000),
      [0.2, 0.6, 0.2],
    );
  });

  test("bounds hold: a family at its maximum gives the rest to the others, one at its minimum keeps it", () => {
    const shares = rebalance(
      [0.9, 0.05, 0],
      1,
      [
        [0.1, 0.6],
        [0.1, 0.7],
        [0.05, 0.3],
      ],
      [0.35, 0.5, 0.15],
    );
    assert.ok(Math.abs((shares[0] as number) - 0.6) < 1e-12);
    assert.ok(Math.abs((shares[2] as number) - 0.05) < 1e-12);
    assert.ok(Math.abs((shares[1] as number) - 0.35) < 1e-12);
  });

  test("with no need seen yet the fleet's own split is kept", () => {
    assert.deepEqual(rebalance([0, 0, 0], 1, open, [0.35, 0.5, 0.15]), [0.35, 0.5, 0.15]);
  });

  test("any need: shares stay within bounds and add up to the allocated total (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 3, maxLength: 3 }),
        fc.double({ min: 0.5, max: 1, noNaN: true }),
        (need, total) => {
          const bounds: Array<[number, number]> = [
            [0.05, 0.6],
            [0.1, 0.7],
            [0, 0.5],
          ];
          const shares = rebalance(need, total, bounds, [total / 3, total / 3, total / 3]);
          shares.forEach((share, f) => {
            const [min, max] = bounds[f] as [number, number];
            assert.ok(
              share >= min - 1e-12 && share <= max + 1e-12,
              `share ${share} outside [${min}, ${max}]`,
            );
          });
          const sum = shares.reduce((a, b) => a + b, 0);
          assert.ok(Math.abs(sum - total) < 1e-9, `shares sum to ${sum}, not ${total}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  test("re-balancing periods: hourly and daily at the simulation's resolution; fixed never", () => {
    assert.equal(rebalancePeriodSteps("hourly", 1), 60);
    assert.equal(rebalancePeriodSteps("daily", 10), 144);
    assert.equal(rebalancePeriodSteps("fixed", 1), Number.POSITIVE_INFINITY);
  });

  test("a scheduled split follows each period's own need: a family whose demand jumps gets its GPUs in that hour", () => {
    // Two families, three periods of 4 steps; family 1's need jumps in the second period.
    const need = (step: number, family: number) => (family === 0 ? 0.3 : step >= 4 && step < 8 ? 0.6 : 0.1);
    const splitAt = scheduleShares(
      12,
      4,
      2,
      need,
      1,
      [
        [0, 1],
        [0, 1],
      ],
      [0.5, 0.5],
    );
    // A split taken from the previous period would give family 1 a quarter during its jump.
    const during = splitAt(5);
    assert.ok(Math.abs((during[1] as number) - 0.6 / 0.9) < 1e-9, `jump period: ${during}`);
    assert.ok(Math.abs((splitAt(0)[1] as number) - 0.25) < 1e-9);
    assert.ok(Math.abs((splitAt(11)[1] as number) - 0.25) < 1e-9);
    // Served within the jump: 0.6 of full capacity needed, 0.667 given.
    assert.ok((during[1] as number) >= 0.6);
    assert.deepEqual(
      scheduleShares(12, Number.POSITIVE_INFINITY, 2, need, 1, open, [0.7, 0.3])(5),
      [0.7, 0.3],
    );
  });
});
