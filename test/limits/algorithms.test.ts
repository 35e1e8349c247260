import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ConcurrencySpec, RateSpec, WindowSpec } from "../../src/limits/dimension.ts";
import { MemoryLimiterStore } from "../../src/stores/memory-limiter.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function clockAt(start: number) {
  const clock = { now: start, advance: (ms: number) => (clock.now += ms) };
  return clock;
}

function setup(start = Date.UTC(2026, 4, 6, 9)) {
  const clock = clockAt(start);
  const store = new MemoryLimiterStore({ now: () => clock.now });
  return { clock, store };
}

const rpm: RateSpec = { kind: "rate", name: "rpm", limit: 60, periodMs: MINUTE };
const session: WindowSpec = { kind: "window", name: "5h", limit: 100, periodMs: 5 * HOUR };

describe("token bucket (requests/min, tokens/min)", () => {
  test("a full bucket admits a burst of `limit`, then refills continuously", async () => {
    const { clock, store } = setup();
    for (let i = 0; i < 60; i++)
      assert.ok((await store.check({ key: "a", dimensions: [rpm], costs: [1] })).admitted);
    const rejected = await store.check({ key: "a", dimensions: [rpm], costs: [1] });
    assert.equal(rejected.admitted, false);
    assert.equal(rejected.retryAfterMs, 1000, "one request refills every second");
    clock.advance(999);
    assert.equal((await store.check({ key: "a", dimensions: [rpm], costs: [1] })).admitted, false);
    clock.advance(1);
    assert.equal((await store.check({ key: "a", dimensions: [rpm], costs: [1] })).admitted, true);
  });

  test("variable cost: a request for more tokens than remain waits for exactly the deficit", async () => {
    const { clock, store } = setup();
    const itpm: RateSpec = { kind: "rate", name: "itpm", limit: 30_000, periodMs: MINUTE };
    assert.ok((await store.check({ key: "a", dimensions: [itpm], costs: [25_000] })).admitted);
    const decision = await store.check({ key: "a", dimensions: [itpm], costs: [10_000] });
    assert.equal(decision.admitted, false);
    // 5,000 short at 500 tokens/s = 10 s.
    assert.equal(decision.retryAfterMs, 10_000);
    assert.equal(decision.dimensions[0]?.remaining, 5_000);
    clock.advance(10_000);
    assert.ok((await store.check({ key: "a", dimensions: [itpm], costs: [10_000] })).admitted);
  });

  test("a cost above the limit can never be admitted: retryAfter is null", async () => {
    const { store } = setup();
    const decision = await store.check({ key: "a", dimensions: [rpm], costs: [61] });
    assert.equal(decision.admitted, false);
    assert.equal(decision.retryAfterMs, null);
  });

  test("reconcile: a refund gives tokens back (never above full); an extra charge leaves debt to wait off", async () => {
    const { clock, store } = setup();
    const otpm: RateSpec = { kind: "rate", name: "otpm", limit: 8_000, periodMs: MINUTE };
    assert.ok((await store.check({ key: "a", dimensions: [otpm], costs: [1_000] })).admitted);
    await store.reconcile({ key: "a", dimensions: [otpm], deltas: [-5_000] });
    assert.equal(
      (await store.check({ key: "a", dimensions: [otpm], costs: [0] })).dimensions[0]?.remaining,
      8_000,
    );
    await store.reconcile({ key: "a", dimensions: [otpm], deltas: [12_000] }); // 4,000 in debt
    const decision = await store.check({ key: "a", dimensions: [otpm], costs: [100] });
    assert.equal(decision.admitted, false);
    assert.equal(decision.retryAfterMs, 30_750, "(4,000 + 100) tokens at 133.3/s");
    clock.advance(30_750);
    assert.ok((await store.check({ key: "a", dimensions: [otpm], costs: [100] })).admitted);
  });
});

describe("5-hour session window", () => {
  test("starts at the first request and resets five hours later", async () => {
    const { clock, store } = setup();
    clock.advance(17 * MINUTE); // not aligned to any clock boundary
    const first = await store.check({ key: "a", dimensions: [session], costs: [40] });
    const start = clock.now;
    assert.equal(first.dimensions[0]?.resetAtMs, start + 5 * HOUR);
    clock.advance(2 * HOUR);
    assert.ok((await store.check({ key: "a", dimensions: [session], costs: [60] })).admitted);
    const over = await store.check({ key: "a", dimensions: [session], costs: [1] });
    assert.equal(over.admitted, false);
    assert.equal(over.retryAfterMs, 3 * HOUR);
    clock.advance(3 * HOUR - 1);
    assert.equal((await store.check({ key: "a", dimensions: [session], costs: [1] })).admitted, false);
    clock.advance(1);
    const next = await store.check({ key: "a", dimensions: [session], costs: [1] });
    assert.ok(next.admitted);
    assert.equal(
      next.dimensions[0]?.resetAtMs,
      clock.now + 5 * HOUR,
      "the next window starts with this request",
    );
  });

  test("after an idle gap the next window starts at the next request, not at a clock boundary", async () => {
    const { clock, store } = setup();
    await store.check({ key: "a", dimensions: [session], costs: [100] });
    clock.advance(11 * HOUR + 23 * MINUTE);
    const decision = await store.check({ key: "a", dimensions: [session], costs: [100] });
    assert.ok(decision.admitted);
    assert.equal(decision.dimensions[0]?.resetAtMs, clock.now + 5 * HOUR);
  });

  test("a rejected request does not start a window", async () => {
    const { clock, store } = setup();
    await store.check({ key: "a", dimensions: [session], costs: [101] });
    clock.advance(HOUR);
    const decision = await store.check({ key: "a", dimensions: [session], costs: [1] });
    assert.equal(decision.dimensions[0]?.resetAtMs, clock.now + 5 * HOUR);
  });
});

describe("weekly window", () => {
  test("rolling: seven days from its first use", async () => {
    const { clock, store } = setup();
    const weekly: WindowSpec = { kind: "window", name: "week", limit: 1_000, periodMs: 7 * DAY };
    await store.check({ key: "a", dimensions: [weekly], costs: [1_000] });
    clock.advance(7 * DAY - 1);
    assert.equal((await store.check({ key: "a", dimensions: [weekly], costs: [1] })).admitted, false);
    clock.advance(1);
    assert.ok((await store.check({ key: "a", dimensions: [weekly], costs: [1] })).admitted);
  });

  test("anchored: resets at the configured instant every week, whenever usage began", async () => {
    const anchor = Date.UTC(2026, 4, 4, 17); // a Monday 17:00 UTC
    const { clock, store } = setup(anchor + 3 * DAY + 5 * HOUR); // Thursday 22:00
    const weekly: WindowSpec = {
      kind: "window",
      name: "week",
      limit: 1_000,
      periodMs: 7 * DAY,
      anchorMs: anchor,
    };
    const first = await store.check({ key: "a", dimensions: [weekly], costs: [1_000] });
    assert.equal(first.dimensions[0]?.resetAtMs, anchor + 7 * DAY);
    const over = await store.check({ key: "a", dimensions: [weekly], costs: [1] });
    assert.equal(over.retryAfterMs, 4 * DAY - 5 * HOUR);
    clock.now = anchor + 7 * DAY;
    assert.ok((await store.check({ key: "a", dimensions: [weekly], costs: [1_000] })).admitted);
  });

  test("the weekly cap stops a key after enough 5-hour windows", async () => {
    const { clock, store } = setup();
    const weekly: WindowSpec = { kind: "window", name: "week", limit: 350, periodMs: 7 * DAY };
    let windows = 0;
    for (;;) {
      const decision = await store.check({ key: "a", dimensions: [session, weekly], costs: [100, 100] });
      if (!decision.admitted) {
        assert.equal(decision.dimensions[1]?.remaining, 50);
        break;
      }
      windows++;
      clock.advance(5 * HOUR);
    }
    assert.equal(windows, 3);
  });
});

describe("concurrency", () => {
  const inFlight: ConcurrencySpec = { kind: "concurrency", name: "conc", limit: 2, leaseMs: 30_000 };

  test("leases are released by reconcile, and a lease never released expires", async () => {
    const { clock, store } = setup();
    assert.ok((await store.check({ key: "a", dimensions: [inFlight], costs: [1], leaseId: "r1" })).admitted);
    assert.ok((await store.check({ key: "a", dimensions: [inFlight], costs: [1], leaseId: "r2" })).admitted);
    const full = await store.check({ key: "a", dimensions: [inFlight], costs: [1], leaseId: "r3" });
    assert.equal(full.admitted, false);
    assert.equal(full.retryAfterMs, 30_000);
    await store.reconcile({ key: "a", dimensions: [inFlight], deltas: [0], leaseId: "r1" });
    assert.ok((await store.check({ key: "a", dimensions: [inFlight], costs: [1], leaseId: "r3" })).admitted);
    clock.advance(30_000); // r2 and r3 were never released ("crashed" holders)
    assert.equal(
      (await store.check({ key: "a", dimensions: [inFlight], costs: [1], leaseId: "r4" })).dimensions[0]
        ?.remaining,
      1,
    );
  });
});

describe("one decision over many dimensions", () => {
  test("if any dimension rejects, nothing is consumed anywhere", async () => {
    const { store } = setup();
    const itpm: RateSpec = { kind: "rate", name: "itpm", limit: 1_000, periodMs: MINUTE };
    const rejected = await store.check({ key: "a", dimensions: [rpm, itpm, session], costs: [1, 2_000, 1] });
    assert.equal(rejected.admitted, false);
    const after = await store.check({ key: "a", dimensions: [rpm, itpm, session], costs: [0, 0, 0] });
    assert.deepEqual(
      after.dimensions.map((dimension) => dimension.remaining),
      [60, 1_000, 100],
    );
  });

  test("retryAfter is when every dimension admits: the latest of their earliest times", async () => {
    const { clock, store } = setup();
    const itpm: RateSpec = { kind: "rate", name: "itpm", limit: 600, periodMs: MINUTE };
    for (let i = 0; i < 60; i++) await store.check({ key: "a", dimensions: [rpm, itpm], costs: [1, 10] });
    // rpm is empty (1 s to the next request); itpm is empty (10 tokens take 1 s); ask for 100 tokens: 10 s.
    const decision = await store.check({ key: "a", dimensions: [rpm, itpm], costs: [1, 100] });
    assert.deepEqual(
      decision.dimensions.map((dimension) => dimension.admitAtMs - clock.now),
      [1_000, 10_000],
    );
    assert.equal(decision.retryAfterMs, 10_000);
    clock.advance(10_000);
    assert.ok((await store.check({ key: "a", dimensions: [rpm, itpm], costs: [1, 100] })).admitted);
  });

  test("idle keys are evicted, so memory is bounded by active keys", async () => {
    const { clock, store } = setup();
    for (let i = 0; i < 5_000; i++) await store.check({ key: `k${i}`, dimensions: [rpm], costs: [1] });
    assert.equal(store.size, 5_000);
    // Records unused for a minute (and back to fresh) go; the sweep looks at a batch now and then.
    clock.advance(2 * MINUTE);
    for (let i = 0; i < 30_000; i++) await store.check({ key: "active", dimensions: [rpm], costs: [0] });
    assert.ok(store.size <= 2, `size ${store.size}`);
  });
});
