import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decide, idleMs, reconcile } from "../../src/limits/decide.ts";
import {
  type ConcurrencySpec,
  KeyState,
  type RateSpec,
  type WindowSpec,
} from "../../src/limits/dimension.ts";

const SECOND = 1_000;
const HOUR = 3_600_000;
const T = Date.UTC(2026, 4, 6, 9);

const rpm: RateSpec = { kind: "rate", name: "rpm", limit: 60, periodMs: 60 * SECOND };
const session: WindowSpec = { kind: "window", name: "5h", limit: 100, periodMs: 5 * HOUR };
const inFlight: ConcurrencySpec = { kind: "concurrency", name: "conc", limit: 2, leaseMs: 5 * SECOND };

describe("idle time: how long a key's state differs from a fresh one", () => {
  test("a fresh key is idle at once", () => {
    assert.equal(idleMs(new KeyState(3), [rpm, session, inFlight], T), 0);
  });

  test("a bucket is idle once it has refilled: 4 of 60 requests/min take 4 s", () => {
    const state = new KeyState(1);
    assert.ok(decide(state, [rpm], T, [4]).admitted);
    assert.equal(idleMs(state, [rpm], T), 4 * SECOND);
    assert.equal(idleMs(state, [rpm], T + 1_500), 2_500);
    assert.equal(idleMs(state, [rpm], T + 10 * SECOND), 0);
  });

  test("a window is idle when it ends; a lease when it expires; a key when its last dimension is", () => {
    const state = new KeyState(3);
    assert.ok(decide(state, [rpm, session, inFlight], T, [1, 10, 1], "lease-1").admitted);
    assert.equal(idleMs(state, [rpm, session, inFlight], T + HOUR), 4 * HOUR, "the longest of the three");
    assert.equal(idleMs(state, [rpm, session, inFlight], T + 5 * HOUR), 0);
    const leaseOnly = new KeyState(1);
    assert.ok(decide(leaseOnly, [inFlight], T, [1], "lease-2").admitted);
    assert.equal(idleMs(leaseOnly, [inFlight], T + SECOND), 4 * SECOND);
  });
});

describe("reconcile after the fact", () => {
  test("a correction after the window ended charges nothing and starts no window; within it, it counts", () => {
    const state = new KeyState(1);
    assert.ok(decide(state, [session], T, [40]).admitted);
    reconcile(state, [session], T + HOUR, [25]);
    assert.equal(decide(state, [session], T + HOUR, [0], "", false).dimensions[0]?.remaining, 35);
    // The window has ended: a late correction is not charged (the ledger keeps the usage)…
    reconcile(state, [session], T + 5 * HOUR + 1, [30]);
    // …and the next request opens a fresh window with the whole budget.
    const next = decide(state, [session], T + 6 * HOUR, [10]);
    assert.ok(next.admitted);
    assert.equal(next.dimensions[0]?.remaining, 90);
    assert.equal(next.dimensions[0]?.resetAtMs, T + 11 * HOUR);
  });

  test("a clock that steps back never drains a bucket", () => {
    const state = new KeyState(1);
    assert.ok(decide(state, [rpm], T, [10]).admitted);
    const earlier = decide(state, [rpm], T - 5 * SECOND, [0], "", false);
    assert.equal(earlier.dimensions[0]?.remaining, 50);
  });

  test("a dry run changes nothing, even when it would admit", () => {
    const state = new KeyState(2);
    for (let i = 0; i < 5; i++) decide(state, [rpm, inFlight], T, [30, 1], `dry-${i}`, false);
    const real = decide(state, [rpm, inFlight], T, [30, 1], "real");
    assert.ok(real.admitted);
    assert.deepEqual(
      real.dimensions.map((dimension) => dimension.remaining),
      [30, 1],
    );
  });
});
