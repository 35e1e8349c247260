import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HeadroomError } from "../../src/common/errors.ts";
import { SlotPool } from "../../src/upstreams/slot-pool.ts";

describe("the simulated pool's slots and queue", () => {
  test("waiters get slots in arrival order; a full queue is refused with 529", async () => {
    const pool = new SlotPool(1, 2, 5_000);
    const first = await pool.acquire();
    const order: string[] = [];
    const second = pool.acquire().then((release) => {
      order.push("second");
      return release;
    });
    const third = pool.acquire().then((release) => {
      order.push("third");
      return release;
    });
    await assert.rejects(
      pool.acquire(),
      (error: unknown) =>
        error instanceof HeadroomError && error.status === 529 && error.headers["retry-after"] === "1",
    );
    assert.equal(pool.queued, 2);
    first();
    (await second)();
    (await third)();
    assert.deepEqual(order, ["second", "third"]);
    assert.equal(pool.inFlight, 0);
  });

  test("a request that waits longer than the queue timeout is refused with 529", async () => {
    const pool = new SlotPool(1, 1, 30);
    const held = await pool.acquire();
    await assert.rejects(
      pool.acquire(),
      (error: unknown) => error instanceof HeadroomError && error.type === "overloaded_error",
    );
    assert.equal(pool.queued, 0);
    held();
  });

  test("a waiter whose client leaves gives up its place", async () => {
    const pool = new SlotPool(1, 1, 5_000);
    const held = await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort();
    await assert.rejects(waiting);
    assert.equal(pool.queued, 0);
    held();
    assert.equal(pool.inFlight, 0);
  });
});
