/**
 * Repeated invalid keys from one source address are throttled: each failure takes a token from
 * the address's bucket (`perMinute` tokens, refilled continuously); an empty bucket means 429
 * for keys this gateway does not already know to be valid. Valid keys the gateway has seen keep
 * working from the same address, so a client behind a NAT with a broken neighbour is not locked
 * out, while a flood of guesses stops costing a store lookup each. An IPv6 client is counted by
 * its /64: one host there can take any of 2^64 addresses, so counting each would throttle none.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { RateSpec, StepResult } from "../limits/dimension.ts";
import { bucketLevel, checkBucket } from "../limits/token-bucket.ts";

/** Addresses remembered at most; the least recently failing are forgotten first. */
const MAX_ADDRESSES = 100_000;

/**
 * What one client is throttled as: an IPv4 address (IPv4-mapped IPv6 included) as it is, an
 * IPv6 address as its /64 ("2001:db8:0:1::/64"), anything else as it is.
 */
export function throttleUnit(address: string): string {
  if (isIPv4(address)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  const bare = address.split("%")[0] ?? address; // a zone id names an interface, not a host
  if (!isIPv6(bare)) return address;
  const [head = "", tail] = bare.split("::");
  const leading = head === "" ? [] : head.split(":");
  const trailing = tail === undefined || tail === "" ? [] : tail.split(":");
  // An embedded IPv4 address fills the last two groups.
  const trailingGroups = trailing.reduce((count, part) => count + (part.includes(".") ? 2 : 1), 0);
  const zeros = tail === undefined ? 0 : 8 - leading.length - trailingGroups;
  const groups = [...leading, ...Array<string>(zeros).fill("0"), ...trailing];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}

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
    const bucket = this.buckets.get(throttleUnit(address));
    if (!bucket) return 0;
    const now = this.now();
    const level = bucketLevel(bucket.a, bucket.b, this.spec, now);
    if (level >= this.spec.periodMs) return 0;
    return Math.ceil((this.spec.periodMs - level) / this.spec.limit);
  }

  /** Counts one invalid key from this address. */
  failed(address: string): void {
    const unit = throttleUnit(address);
    const bucket = this.buckets.get(unit) ?? { a: Number.NaN, b: 0 };
    checkBucket(bucket.a, bucket.b, this.spec, this.now(), 1, this.step);
    this.buckets.delete(unit);
    this.buckets.set(unit, { a: this.step.a, b: this.step.b });
    if (this.buckets.size > MAX_ADDRESSES) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }
}
