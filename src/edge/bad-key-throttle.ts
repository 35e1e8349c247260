/**
 * Repeated invalid keys from one source address are throttled: each failure takes a token from
 * the address's bucket (`perMinute` tokens, refilled continuously); an empty bucket means 429
 * for keys this gateway does not already know to be valid. Valid keys the gateway has seen keep
 * working from the same address, so a client behind a NAT with a broken neighbour is not locked
 * out, while a flood of guesses stops costing a store lookup each.
 */
import type { RateSpec, StepResult } from "../limits/dimension.ts";
import { bucketLevel, checkBucket } from "../limits/token-bucket.ts";

/** Addresses remembered at most; the least recently failing are forgotten first. */
const MAX_ADDRESSES = 100_000;

export class BadKeyThrottle {
  private readonly buckets = new Map<string, { a: number; b: number }>();
  private readonly spec: RateSpec;
  private readonly step: StepResult = { admitAtMs: 0, remaining: 0, resetAtMs: 0, a: 0, b: 0 };

  constructor(
    perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.spec = { kind: "rate", name: "bad-keys", limit: perMinute, periodMs: 60_000 };
  }

  /** Milliseconds until this address may try an unknown key again; 0 when it may now. */
  retryAfterMs(address: string): number {
    const bucket = this.buckets.get(address);
    if (!bucket) return 0;
    const now = this.now();
    const level = bucketLevel(bucket.a, bucket.b, this.spec, now);
    if (level >= this.spec.periodMs) return 0;
    return Math.ceil((this.spec.periodMs - level) / this.spec.limit);
  }

  /** Counts one invalid key from this address. */
  failed(address: string): void {
    const bucket = this.buckets.get(address) ?? { a: Number.NaN, b: 0 };
    checkBucket(bucket.a, bucket.b, this.spec, this.now(), 1, this.step);
    this.buckets.delete(address);
    this.buckets.set(address, { a: this.step.a, b: this.step.b });
    if (this.buckets.size > MAX_ADDRESSES) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }
}
