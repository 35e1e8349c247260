/**
 * Requests lost with their gateway: a shared store keeps a charge record per admitted request
 * (CheckRequest.refundIfLostAfterMs), and any gateway's sweep refunds the records nobody kept
 * alive in time, exactly once. Run on standalone Redis and on Redis Cluster.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { DimensionSpec } from "../../src/limits/dimension.ts";
import type { CheckRequest, LimiterStore } from "../../src/limits/limiter-store.ts";

export interface Clock {
  now: number;
}

/** A store sharing state with every other store made with the same prefix. */
export type MakeSharedStore = (clock: Clock, prefix: string) => Promise<LimiterStore>;

const LOST_AFTER_MS = 3_000;
const window5h: DimensionSpec = { kind: "window", name: "5h", limit: 1_000, periodMs: 5 * 3_600_000 };
const slot: DimensionSpec = { kind: "concurrency", name: "concurrency", limit: 1, leaseMs: LOST_AFTER_MS };
const dimensions = [window5h, slot];

function tracked(leaseId: string, cost: number): CheckRequest {
  return {
    key: "agent",
    dimensions,
    costs: [cost, 1],
    leaseId,
    refundIfLostAfterMs: LOST_AFTER_MS,
    requestId: `req_${leaseId}`,
  };
}

/** Settles a tracked request that used `delta` more (or less) than its estimate in the window. */
function settle(store: LimiterStore, leaseId: string, delta: number): Promise<void> {
  return store.reconcile({
    key: "agent",
    dimensions,
    deltas: [delta, 0],
    leaseId,
    refundIfLostAfterMs: LOST_AFTER_MS,
  });
}

async function windowRemaining(store: LimiterStore): Promise<number> {
  const peek = await store.check({ key: "agent", dimensions, costs: [0, 0], leaseId: "peek", dryRun: true });
  return peek.dimensions[0]?.remaining ?? Number.NaN;
}

/** The ledger as the sweep sees it: which request ids have a row. */
let ledgerRows = new Set<string>();
const recorded = async (ids: readonly string[]) => new Set(ids.filter((id) => ledgerRows.has(id)));

async function sweep(store: LimiterStore): Promise<number> {
  assert.ok(store.refundsLostRequests, "a shared store refunds lost requests");
  return (await store.refundLost?.(recorded)) ?? Number.NaN;
}

/**
 * What every gateway's sweep refunds, all sweeping at once. (A store sends its index entries
 * every 50 ms or when it sweeps: the gateway that admitted a request sweeps too.)
 */
async function sweepAll(stores: readonly LimiterStore[]): Promise<number> {
  const counts = await Promise.all(stores.map(sweep));
  return counts.reduce((sum, count) => sum + count, 0);
}

export function describeLostRequests(
  name: string,
  makeStore: MakeSharedStore,
  options: { skip: string | undefined; prefix: string },
): void {
  let cases = 0;
  /** Two gateways' stores on one fresh prefix and one clock. */
  async function gateways() {
    const clock = { now: Date.UTC(2026, 11, 1, 9) };
    const prefix = `${options.prefix}lost-${++cases}:`;
    const stores = [await makeStore(clock, prefix), await makeStore(clock, prefix)] as const;
    return { clock, stores, close: () => Promise.all(stores.map((store) => store.close())) };
  }

  describe(`requests lost with their gateway (${name})`, { skip: options.skip }, () => {
    test("a request nobody keeps alive is refunded once, by one of the gateways sweeping at once", async () => {
      const { clock, stores, close } = await gateways();
      const [a, b] = stores;
      assert.ok((await a.check(tracked("a-1", 100))).admitted);
      assert.equal(await windowRemaining(b), 900);
      clock.now += LOST_AFTER_MS - 1;
      assert.deepEqual(await Promise.all([sweep(a), sweep(b)]), [0, 0], "not lost before its time");
      clock.now += 2;
      const refunded = await Promise.all([sweep(a), sweep(b), sweep(a), sweep(b)]);
      assert.equal(
        refunded.reduce((sum, count) => sum + count, 0),
        1,
        `refunded once: ${refunded}`,
      );
      assert.equal(await windowRemaining(b), 1_000, "the window is as if the request never ran");
      assert.ok((await b.check(tracked("b-1", 10))).admitted, "its concurrency slot is free");
      clock.now += 10 * LOST_AFTER_MS;
      assert.equal(await sweepAll(stores), 1, "b-1, lost too; a-1 never again");
      await close();
    });

    test("a request kept alive is not refunded, and its settlement ends its record", async () => {
      const { clock, stores, close } = await gateways();
      const [a, b] = stores;
      assert.ok((await a.check(tracked("a-1", 100))).admitted);
      for (let i = 0; i < 5; i++) {
        clock.now += LOST_AFTER_MS - 1;
        await a.keepAlive([{ key: "agent", dimensions, leaseId: "a-1", refundIfLostAfterMs: LOST_AFTER_MS }]);
        assert.equal(await sweepAll(stores), 0, "kept alive, never lost");
      }
      // It used 150: 50 more than its estimate.
      await settle(a, "a-1", 50);
      clock.now += 10 * LOST_AFTER_MS;
      assert.equal(await sweepAll(stores), 0, "a settled request has nothing to refund");
      assert.equal(await windowRemaining(b), 850);
      await close();
    });

    test("a request refunded while its gateway was cut off still ends charged what it used", async () => {
      const { clock, stores, close } = await gateways();
      const [a, b] = stores;
      assert.ok((await a.check(tracked("a-1", 100))).admitted);
      clock.now += LOST_AFTER_MS + 1;
      assert.equal(await sweepAll(stores), 1);
      assert.equal(await windowRemaining(b), 1_000);
      // Its gateway was alive after all: the request ends having used 60.
      await settle(a, "a-1", -40);
      assert.equal(await windowRemaining(b), 940);
      clock.now += 10 * LOST_AFTER_MS;
      assert.equal(await sweepAll(stores), 0);
      assert.equal(await windowRemaining(b), 940);
      await close();
    });

    test("a lost request the ledger holds keeps its charge (it was served; only its settlement was lost)", async () => {
      const { clock, stores, close } = await gateways();
      const [a, b] = stores;
      assert.ok((await a.check(tracked("a-1", 100))).admitted);
      assert.ok((await a.check(tracked("a-2", 30))).admitted === false, "one slot");
      ledgerRows = new Set(["req_a-1"]);
      clock.now += LOST_AFTER_MS + 1;
      assert.equal(await sweepAll(stores), 0, "nothing refunded");
      assert.equal(await windowRemaining(b), 900);
      // Its record is gone: should its gateway settle after all, the settlement applies as usual.
      clock.now += 10 * LOST_AFTER_MS;
      await settle(a, "a-1", -10);
      assert.equal(await windowRemaining(b), 910);
      ledgerRows = new Set();
      await close();
    });

    test("while the ledger cannot say, nothing is refunded; the next sweep that can, refunds", async () => {
      const { clock, stores, close } = await gateways();
      const [a, b] = stores;
      assert.ok((await a.check(tracked("a-1", 100))).admitted);
      clock.now += LOST_AFTER_MS + 1;
      const unreachable = async () => {
        throw new Error("ledger unreachable");
      };
      await assert.rejects(
        b.refundLost?.(unreachable) ?? Promise.reject(new Error("no sweep")),
        /ledger unreachable/,
      );
      assert.equal(await windowRemaining(b), 900);
      assert.equal(await sweepAll(stores), 1);
      assert.equal(await windowRemaining(b), 1_000);
      await close();
    });

    test("a gateway that died with many requests running is swept in one go", async () => {
      const { clock, stores, close } = await gateways();
      const [a, b] = stores;
      const wide = [{ ...window5h, limit: 1_000_000 }];
      const requests = Array.from({ length: 250 }, (_, i) => ({
        key: "agent",
        dimensions: wide,
        costs: [10],
        leaseId: `a-${i}`,
        refundIfLostAfterMs: LOST_AFTER_MS,
      }));
      for (const request of requests) assert.ok((await a.check(request)).admitted);
      clock.now += LOST_AFTER_MS + 1;
      assert.equal(await sweep(b), 250, "every lost request, in one sweep");
      const peek = await b.check({ key: "agent", dimensions: wide, costs: [0], dryRun: true });
      assert.equal(peek.dimensions[0]?.remaining, 1_000_000);
      await close();
    });

    test("untracked requests and peeks leave no record", async () => {
      const { clock, stores, close } = await gateways();
      const [a] = stores;
      assert.ok((await a.check({ key: "agent", dimensions, costs: [100, 1], leaseId: "plain" })).admitted);
      await windowRemaining(a);
      clock.now += 10 * LOST_AFTER_MS;
      assert.equal(await sweep(a), 0);
      assert.equal(await windowRemaining(a), 900, "an untracked charge stands");
      await close();
    });
  });
}
