/**
 * Keeps running requests' concurrency leases (and, on a shared store, their charge records)
 * alive: every third of the lease time, one call extends all of them, so they expire only once
 * no gateway keeps them (the gateway died) and a sweep can refund what such requests held. The
 * timer runs only while something is held.
 */
import type { HeldLease, LimiterStore } from "../limits/limiter-store.ts";

export class LeaseKeeper {
  private readonly held = new Map<string, HeldLease>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limiter: Pick<LimiterStore, "keepAlive">,
    private readonly everyMs: number,
    private readonly onError?: (error: unknown) => void,
  ) {}

  hold(lease: HeldLease): void {
    this.held.set(lease.leaseId, lease);
    if (!this.timer) {
      this.timer = setInterval(() => void this.keepAlive(), this.everyMs);
      this.timer.unref();
    }
  }

  /** Called before the lease is released, so no keep-alive can follow the release. */
  letGo(leaseId: string): void {
    if (!this.held.delete(leaseId) || this.held.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Requests whose leases are kept alive. */
  get size(): number {
    return this.held.size;
  }

  /** Extends every held lease at once (the store pipelines it). */
  async keepAlive(): Promise<void> {
    if (this.held.size === 0) return;
    try {
      await this.limiter.keepAlive([...this.held.values()]);
    } catch (error) {
      this.onError?.(error);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.held.clear();
  }
}
