/**
 * The contract every limiter store passes (memory, Redis, Redis Cluster): the same requests at
 * the same injected times give the same decisions.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { DimensionSpec } from "../../src/limits/dimension.ts";
import type { LimiterStore } from "../../src/limits/limiter-store.ts";

export interface Clock {
  now: number;
}

export type MakeStore = (clock: Clock) => Promise<LimiterStore>;

const MINUTE = 60_000;
const rpm: DimensionSpec = { kind: "rate", name: "rpm", limit: 5, periodMs: MINUTE };
const itpm: DimensionSpec = { kind: "rate", name: "itpm", limit: 1_000, periodMs: MINUTE };
const session: DimensionSpec = { kind: "window", name: "5h", limit: 50, periodMs: 5 * 60 * MINUTE };
const weekly: DimensionSpec = {
  kind: "window",
  name: "week",
  limit: 120,
  periodMs: 7 * 24 * 60 * MINUTE,
  anchorMs: Date.UTC(2026, 0, 5),
};
const inFlight: DimensionSpec = { kind: "concurrency", name: "conc", limit: 2, leaseMs: 10_000 };
const all = [rpm, itpm, session, weekly, inFlight];

export function describeLimiterContract(
  name: string,
  makeStore: MakeStore,
  options: { skip?: string } = {},
): void {
  describe(`limiter store contract: ${name}`, { skip: options.skip }, () => {
    let keyCounter = 0;
    const key = () => `contract-${process.pid}-${Date.now()}-${keyCounter++}`;

    test("admits within every limit and reports limit, remaining and reset per dimension", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      const k = key();
      const decision = await store.check({
        key: k,
        dimensions: all,
        costs: [1, 300, 10, 10, 1],
        leaseId: "a",
      });
      assert.equal(decision.admitted, true);
      assert.equal(decision.retryAfterMs, 0);
      assert.deepEqual(
        decision.dimensions.map((d) => [d.name, d.limit, d.remaining]),
        [
          ["rpm", 5, 4],
          ["itpm", 1_000, 700],
          ["5h", 50, 40],
          ["week", 120, 110],
          ["conc", 2, 1],
        ],
      );
      assert.equal(decision.dimensions[2]?.resetAtMs, clock.now + 5 * 60 * MINUTE);
      assert.equal(decision.dimensions[3]?.resetAtMs, Date.UTC(2026, 4, 11));
      await store.close();
    });

    test("rejects atomically: nothing is consumed when one dimension says no", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      const k = key();
      const rejected = await store.check({
        key: k,
        dimensions: all,
        costs: [1, 5_000, 1, 1, 1],
        leaseId: "a",
      });
      assert.equal(rejected.admitted, false);
      assert.equal(rejected.retryAfterMs, null, "5,000 tokens never fit a 1,000 bucket");
      const probe = await store.check({ key: k, dimensions: all, costs: [0, 0, 0, 0, 1], leaseId: "b" });
      assert.deepEqual(
        probe.dimensions.map((d) => d.remaining),
        [5, 1_000, 50, 120, 1],
      );
      await store.close();
    });

    test("retryAfter is exact: one ms early is rejected, at retryAfter it is admitted", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      const k = key();
      for (let i = 0; i < 5; i++) await store.check({ key: k, dimensions: [rpm, itpm], costs: [1, 150] });
      const rejected = await store.check({ key: k, dimensions: [rpm, itpm], costs: [1, 400] });
      assert.equal(rejected.admitted, false);
      // itpm is 150 tokens short (9 s at 1,000/min); rpm frees a request in 12 s: the later wins.
      assert.deepEqual(
        rejected.dimensions.map((d) => d.admitAtMs - clock.now),
        [12_000, 9_000],
      );
      assert.equal(rejected.retryAfterMs, 12_000);
      clock.now += (rejected.retryAfterMs ?? 0) - 1;
      assert.equal((await store.check({ key: k, dimensions: [rpm, itpm], costs: [1, 400] })).admitted, false);
      clock.now += 1;
      assert.equal((await store.check({ key: k, dimensions: [rpm, itpm], costs: [1, 400] })).admitted, true);
      await store.close();
    });

    test("reconcile refunds and charges debt", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      const k = key();
      await store.check({ key: k, dimensions: [itpm, session], costs: [800, 40] });
      await store.reconcile({ key: k, dimensions: [itpm, session], deltas: [-500, -30] });
      const after = await store.check({ key: k, dimensions: [itpm, session], costs: [0, 0] });
      assert.deepEqual(
        after.dimensions.map((d) => d.remaining),
        [700, 40],
      );
      await store.reconcile({ key: k, dimensions: [itpm, session], deltas: [1_700, 0] });
      const inDebt = await store.check({ key: k, dimensions: [itpm], costs: [1] });
      assert.equal(inDebt.admitted, false);
      assert.equal(inDebt.retryAfterMs, 60_060, "1,000 tokens of debt plus 1 at 1,000/min");
      await store.close();
    });

    test("5-hour windows start with the first request; concurrency leases release and expire", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12, 17) };
      const store = await makeStore(clock);
      const k = key();
      await store.check({ key: k, dimensions: [session, inFlight], costs: [50, 1], leaseId: "r1" });
      const start = clock.now;
      clock.now += 60_000;
      const busy = await store.check({
        key: k,
        dimensions: [session, inFlight],
        costs: [1, 1],
        leaseId: "r2",
      });
      assert.equal(busy.admitted, false);
      assert.equal(busy.retryAfterMs, start + 5 * 60 * MINUTE - clock.now);
      assert.equal(busy.dimensions[1]?.remaining, 1, "the rejected request took no lease");
      clock.now = start + 5 * 60 * MINUTE;
      const next = await store.check({
        key: k,
        dimensions: [session, inFlight],
        costs: [1, 1],
        leaseId: "r3",
      });
      assert.equal(next.admitted, true);
      assert.equal(next.dimensions[1]?.remaining, 1, "r1's lease expired after 10 s");
      await store.reconcile({ key: k, dimensions: [session, inFlight], deltas: [0, 0], leaseId: "r3" });
      const released = await store.check({ key: k, dimensions: [inFlight], costs: [1], leaseId: "r4" });
      assert.equal(released.dimensions[0]?.remaining, 1);
      await store.close();
    });

    test("a lease kept alive outlives its lease time, one not kept expires, and one kept after expiring is back", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      const [k, org] = [key(), key()];
      const teamConc: DimensionSpec = {
        kind: "concurrency",
        name: "team-conc",
        limit: 3,
        leaseMs: 10_000,
        scope: `team-${org}`,
      };
      const dims = [inFlight, teamConc];
      const ask = (leaseId: string) =>
        store.check({ key: k, slot: org, dimensions: dims, costs: [1, 1], leaseId });
      const keep = (...ids: string[]) =>
        store.keepAlive(ids.map((leaseId) => ({ key: k, slot: org, dimensions: dims, leaseId })));
      assert.equal((await ask("kept")).admitted, true);
      assert.equal((await ask("dropped")).admitted, true);
      // Twice the lease time passes with "kept" kept alive every third of it; "dropped" is not.
      for (let i = 0; i < 6; i++) {
        clock.now += 3_333;
        await keep("kept");
      }
      const after = await ask("third");
      assert.equal(after.admitted, true, "the dropped lease expired");
      assert.deepEqual(
        after.dimensions.map((d) => d.remaining),
        [0, 1],
        "kept and third hold the key's two slots and two of the team's three",
      );
      assert.equal((await ask("fourth")).admitted, false, "the kept lease still holds its slot");
      // A lease that expired while its request ran (the store was out of reach) is put back.
      clock.now += 10_001;
      await keep("kept");
      const back = await store.check({ key: k, slot: org, dimensions: dims, costs: [1, 1], dryRun: true });
      // A dry run reports what would remain were it admitted.
      assert.deepEqual(
        back.dimensions.map((d) => d.remaining),
        [0, 1],
        "only kept is held again",
      );
      await store.reconcile({ key: k, slot: org, dimensions: dims, deltas: [0, 0], leaseId: "kept" });
      const released = await store.check({
        key: k,
        slot: org,
        dimensions: dims,
        costs: [1, 1],
        dryRun: true,
      });
      assert.deepEqual(
        released.dimensions.map((d) => d.remaining),
        [1, 2],
      );
      await store.close();
    });

    test("a dry run reports the limits without consuming, starting a window or taking a lease", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      const k = key();
      const peek = await store.check({
        key: k,
        dimensions: all,
        costs: [1, 100, 5, 5, 1],
        leaseId: "p",
        dryRun: true,
      });
      assert.equal(peek.admitted, true);
      assert.deepEqual(
        peek.dimensions.map((d) => d.remaining),
        [4, 900, 45, 115, 1],
      );
      clock.now += 60_000;
      const first = await store.check({ key: k, dimensions: all, costs: [5, 1_000, 50, 0, 1], leaseId: "a" });
      assert.equal(first.admitted, true, "nothing was consumed by the dry run");
      assert.equal(
        first.dimensions[2]?.resetAtMs,
        clock.now + 5 * 60 * MINUTE,
        "the 5-hour window starts at the first real request",
      );
      const full = await store.check({
        key: k,
        dimensions: all,
        costs: [1, 1, 1, 1, 1],
        leaseId: "b",
        dryRun: true,
      });
      assert.equal(full.admitted, false);
      assert.equal(full.retryAfterMs, 5 * 60 * MINUTE, "the 5-hour budget is used up until its window ends");
      await store.close();
    });

    test("a key's dimensions keep their state by name when the dimension list changes", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      const k = key();
      const credits: DimensionSpec = {
        kind: "window",
        name: "credits",
        limit: 100,
        periodMs: 30 * 24 * 60 * MINUTE,
      };
      await store.check({ key: k, dimensions: [rpm, session], costs: [2, 30] });
      await store.check({ key: k, dimensions: [credits], costs: [40] });
      await store.reconcile({ key: k, dimensions: [credits], deltas: [5] });
      const back = await store.check({ key: k, dimensions: [session, rpm], costs: [0, 0] });
      assert.deepEqual(
        back.dimensions.map((d) => d.remaining),
        [20, 3],
      );
      const creditsAgain = await store.check({ key: k, dimensions: [credits], costs: [0] });
      assert.equal(creditsAgain.dimensions[0]?.remaining, 55);
      await store.close();
    });

    test("replayed usage lands in the window it was served in, over the limit if it was, and rates start fresh", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      assert.ok(store.replay, "the store can rebuild from the ledger");
      const k = key();
      const HOUR = 60 * MINUTE;
      // Served 3 h and 2 h ago: the first starts the 5-hour window, both count in it.
      await store.replay({ key: k, dimensions: all, atMs: clock.now - 3 * HOUR, costs: [1, 500, 30, 30, 1] });
      await store.replay({ key: k, dimensions: all, atMs: clock.now - 2 * HOUR, costs: [1, 500, 30, 30, 1] });
      const now = await store.check({ key: k, dimensions: all, costs: [0, 0, 0, 0, 0], dryRun: true });
      const byName = Object.fromEntries(now.dimensions.map((d) => [d.name, d]));
      assert.equal(byName["5h"]?.remaining, 0, "60 of 50 used: replay never refuses");
      assert.equal(byName["5h"]?.resetAtMs, clock.now + 2 * HOUR, "the window started 3 h ago");
      assert.equal(byName.week?.remaining, 60);
      assert.equal(byName.rpm?.remaining, 5, "rates are not replayed");
      assert.equal(byName.conc?.remaining, 1, "nor leases (a dry run counts itself)");
      assert.equal(now.admitted, false, "a request that costs anything waits for the window");
      // Usage older than its window is not counted in the current one.
      const old = key();
      await store.replay({ key: old, dimensions: [session], atMs: clock.now - 6 * HOUR, costs: [45] });
      const fresh = await store.check({ key: old, dimensions: [session], costs: [45] });
      assert.equal(fresh.admitted, true);
      await store.close();
    });

    test("keys are independent", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      const [a, b] = [key(), key()];
      for (let i = 0; i < 5; i++) await store.check({ key: a, dimensions: [rpm], costs: [1] });
      assert.equal((await store.check({ key: a, dimensions: [rpm], costs: [1] })).admitted, false);
      assert.equal((await store.check({ key: b, dimensions: [rpm], costs: [1] })).admitted, true);
      await store.close();
    });

    test("a scope's dimensions are shared by every key naming it and decided with the key's own, all or nothing", async () => {
      const clock = { now: Date.UTC(2026, 4, 6, 12) };
      const store = await makeStore(clock);
      const [a, b, org] = [key(), key(), key()];
      const team = `team-${org}`;
      const own: DimensionSpec = { kind: "rate", name: "rpm", limit: 2, periodMs: MINUTE };
      const teamRpm: DimensionSpec = {
        kind: "rate",
        name: "team-rpm",
        limit: 3,
        periodMs: MINUTE,
        scope: team,
      };
      const teamConc: DimensionSpec = {
        kind: "concurrency",
        name: "team-conc",
        limit: 5,
        leaseMs: 10_000,
        scope: team,
      };
      const dims = [own, teamRpm, teamConc];
      const ask = (k: string, leaseId: string) =>
        store.check({ key: k, slot: org, dimensions: dims, costs: [1, 1, 1], leaseId });
      const first = await ask(a, "1");
      assert.equal(first.admitted, true);
      assert.deepEqual(
        first.dimensions.map((d) => [d.name, d.remaining]),
        [
          ["rpm", 1],
          ["team-rpm", 2],
          ["team-conc", 4],
        ],
      );
      assert.equal((await ask(a, "2")).admitted, true);
      // a's own limit refuses its third request: the team is not charged for it.
      const ownRefusal = await ask(a, "3");
      assert.equal(ownRefusal.admitted, false);
      assert.equal(ownRefusal.dimensions[0]?.admitAtMs !== clock.now, true);
      const third = await ask(b, "4");
      assert.equal(third.admitted, true, "the team had one request left");
      assert.equal(third.dimensions[1]?.remaining, 0);
      assert.equal(third.dimensions[2]?.remaining, 2, "three team leases held");
      // The team is spent: b is refused by the team's limit, not its own.
      const teamRefusal = await ask(b, "5");
      assert.equal(teamRefusal.admitted, false);
      assert.ok((teamRefusal.retryAfterMs ?? 0) > 0);
      // A refund to the team (reconcile) lets the next request in; leases are released by id.
      await store.reconcile({ key: a, slot: org, dimensions: dims, deltas: [0, -1, 0], leaseId: "1" });
      const afterRefund = await ask(b, "6");
      assert.equal(afterRefund.admitted, true);
      assert.equal(afterRefund.dimensions[2]?.remaining, 2, "lease 1 released, lease 6 taken");
      // b's own bucket (2 a minute) was charged for requests 4 and 6 only, never for the refused 5.
      assert.equal(afterRefund.dimensions[0]?.remaining, 0);
      await store.close();
    });
  });
}
