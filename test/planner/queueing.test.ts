import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { logErlangB, logNormalCdf, queueOf } from "../../src/planner/queueing.ts";

/** Erlang B from its definition, a ratio of Poisson terms, summed directly (small c only). */
function erlangBBySum(c: number, a: number): number {
  // Log-terms of a^k/k!, normalised by their largest before summing.
  const logTerms: number[] = [];
  let log = 0;
  for (let k = 0; k <= c; k++) {
    if (k > 0) log += Math.log(a / k);
    logTerms.push(log);
  }
  const top = Math.max(...logTerms);
  const sum = logTerms.reduce((total, x) => total + Math.exp(x - top), 0);
  return Math.exp(log - top) / sum;
}

/**
 * The M/M/c/c+K chain solved from its balance equations, state by state: the share of
 * arrivals shed (they find c + K in the system) and the share that must wait (they find all c
 * slots busy and room in the queue).
 */
function birthDeath(c: number, k: number, lambda: number, mu: number): { shed: number; wait: number } {
  // Unnormalised state weights in logs (they overflow far over capacity), then normalised.
  const logP = [0];
  for (let n = 1; n <= c + k; n++)
    logP.push((logP[n - 1] as number) + Math.log(lambda / (Math.min(n, c) * mu)));
  const top = Math.max(...logP);
  const p = logP.map((x) => Math.exp(x - top));
  const total = p.reduce((sum, x) => sum + x, 0);
  const shed = (p[c + k] as number) / total;
  let wait = 0;
  for (let n = c; n < c + k; n++) wait += (p[n] as number) / total;
  return { shed, wait };
}

describe("queueing over serving slots", () => {
  test("the normal distribution's log stays finite and exact far into its tails", () => {
    assert.ok(Math.abs(Math.exp(logNormalCdf(0)) - 0.5) < 1e-7);
    assert.ok(Math.abs(Math.exp(logNormalCdf(1.959964)) - 0.975) < 1e-6);
    // Φ(−40) ≈ 3.7e−350 is below the smallest double; its log is not.
    const far = logNormalCdf(-40);
    assert.ok(Number.isFinite(far) && Math.abs(far - -804.608) < 0.01, `${far}`);
  });

  test("Erlang B is the exact sum, for a replica's slots and a pooled fleet's", () => {
    assert.ok(Math.abs(Math.exp(logErlangB(10, 5)) - 0.018385) < 1e-5);
    for (const c of [1, 24, 500, 4_000, 5_001, 8_000, 20_000])
      for (const rho of [0.5, 0.9, 0.97, 1, 1.05, 3]) {
        const exact = erlangBBySum(c, rho * c);
        const found = Math.exp(logErlangB(c, rho * c));
        const tolerance = c <= 5_000 ? 1e-9 : 0.15;
        // Far in the tail any value is "no one waits": service levels start at 1e−6.
        if (exact < 1e-30 || (c > 5_000 && exact < 1e-6))
          assert.ok(found < Math.max(1e-25, 10 * exact), `c ${c}, ρ ${rho}: ${found}`);
        else
          assert.ok(Math.abs(found - exact) <= tolerance * exact, `c ${c}, ρ ${rho}: ${found} vs ${exact}`);
      }
  });

  test("shed and waiting shares are the M/M/c/c+K chain's, solved state by state", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0.05, max: 3, noNaN: true }),
        fc.double({ min: 1, max: 30, noNaN: true }),
        fc.double({ min: 0.5, max: 20, noNaN: true }),
        (slots, rho, serviceS, maxQueueS) => {
          const arrivalsPerS = (rho * slots) / serviceS;
          const queue = queueOf({ slots, arrivalsPerS, serviceS, maxQueueS });
          const k = Math.floor((slots * maxQueueS) / serviceS);
          const chain = birthDeath(slots, k, arrivalsPerS, 1 / serviceS);
          assert.ok(
            Math.abs(queue.shed - chain.shed) < 1e-9 + 1e-6 * chain.shed,
            `${queue.shed} vs ${chain.shed}`,
          );
          const waiting = queue.waitingLongerThan(0);
          assert.ok(Math.abs(waiting - chain.wait) < 1e-9 + 1e-6 * chain.wait, `${waiting} vs ${chain.wait}`);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("more load never sheds less or waits less; far over capacity the excess is shed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.double({ min: 0.1, max: 2, noNaN: true }),
        fc.double({ min: 1.001, max: 1.5, noNaN: true }),
        (slots, rho, more) => {
          const at = (r: number) =>
            queueOf({ slots, arrivalsPerS: (r * slots) / 15, serviceS: 15, maxQueueS: 10 });
          const low = at(rho);
          const high = at(rho * more);
          assert.ok(high.shed >= low.shed - 1e-12);
          // Among the admitted (far over capacity more are shed, so fewer of all arrivals wait).
          const late = (queue: typeof low) => queue.waitingLongerThan(1) / (1 - queue.shed);
          assert.ok(late(high) >= late(low) * (1 - 1e-9) - 1e-12, `${late(high)} < ${late(low)}`);
        },
      ),
      { numRuns: 200 },
    );
    for (const rho of [2, 4])
      assert.ok(
        Math.abs(
          queueOf({ slots: 1_000, arrivalsPerS: (rho * 1_000) / 15, serviceS: 15, maxQueueS: 10 }).shed -
            (1 - 1 / rho),
        ) < 1e-3,
      );
  });

  test("pooling: the same load on more slots waits less (why a queue per replica is the cautious choice)", () => {
    for (const rho of [0.7, 0.85, 0.95]) {
      const replica = queueOf({ slots: 24, arrivalsPerS: (rho * 24) / 15, serviceS: 15, maxQueueS: 10 });
      const pooled = queueOf({
        slots: 24_000,
        arrivalsPerS: (rho * 24_000) / 15,
        serviceS: 15,
        maxQueueS: 10,
      });
      assert.ok(pooled.waitingLongerThan(1) < replica.waitingLongerThan(1), `ρ ${rho}`);
    }
  });

  test("the wait quantile is the smallest wait a share q of admitted requests exceed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.double({ min: 0.3, max: 1.5, noNaN: true }),
        fc.double({ min: 0.01, max: 0.5, noNaN: true }),
        (slots, rho, q) => {
          const queue = queueOf({ slots, arrivalsPerS: (rho * slots) / 15, serviceS: 15, maxQueueS: 30 });
          const admitted = 1 - queue.shed;
          const t = queue.waitQuantile(q);
          assert.ok(queue.waitingLongerThan(t) <= q * admitted * (1 + 1e-9));
          // One departure less than the quantile is exceeded by more than q (unless no one waits).
          if (t > 0) assert.ok(queue.waitingLongerThan(t - 15 / slots) > q * admitted * (1 + 1e-9));
          assert.ok(queue.waitQuantile(q / 2) >= t);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("no slots shed everything; no arrivals shed nothing", () => {
    assert.equal(queueOf({ slots: 0.5, arrivalsPerS: 1, serviceS: 10, maxQueueS: 10 }).shed, 1);
    assert.equal(queueOf({ slots: 100, arrivalsPerS: 0, serviceS: 10, maxQueueS: 10 }).shed, 0);
  });
});
