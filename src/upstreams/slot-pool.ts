/**
 * A pool of decode slots with a bounded FIFO queue: the simulated GPU pool's batch. A request
 * holds a slot from prefill to its last token. When every slot is busy it waits in the queue;
 * when the queue is full, or the wait exceeds the timeout, it is refused as overloaded (529),
 * which is what a real serving stack does when its batch and queue are saturated.
 */
import { overloaded } from "../common/errors.ts";

interface Waiter {
  grant: (release: () => void) => void;
  fail: (error: Error) => void;
}

export class SlotPool {
  private busy = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    public slots: number,
    readonly maxQueue: number,
    readonly queueTimeoutMs: number,
  ) {}

  /** Changes the number of slots (capacity moves with the fleet); waiters get new slots at once. */
  resize(slots: number): void {
    this.slots = Math.max(1, slots);
    while (this.busy < this.slots && this.waiters.length > 0) {
      this.busy++;
      this.waiters.shift()?.grant(this.releaser());
    }
  }

  get inFlight(): number {
    return this.busy;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** Resolves with a release function once a slot is held. Release is idempotent. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.busy < this.slots) {
      this.busy++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiters.length >= this.maxQueue) {
      return Promise.reject(overloaded("The simulated GPU pool is at capacity and its queue is full.", 1));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: (release) => {
          cleanup();
          resolve(release);
        },
        fail: (error) => {
          cleanup();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.remove(waiter);
        waiter.fail(overloaded("Timed out waiting for capacity in the simulated GPU pool.", 1));
      }, this.queueTimeoutMs);
      const onAbort = () => {
        this.remove(waiter);
        waiter.fail(new Error("aborted while queued"));
      };
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private remove(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // Hand the slot straight to the next waiter so it cannot be taken out of order.
      if (next) next.grant(this.releaser());
      else this.busy--;
    };
  }
}
