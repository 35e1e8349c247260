/**
 * Requests in flight, as leases that expire: a request takes one when admitted and releases it
 * when it ends; a lease its holder never released (a crashed gateway) frees itself after
 * `leaseMs`.
 */
import type { ConcurrencySpec, Lease, StepResult } from "./dimension.ts";

export function liveLeases(leases: readonly Lease[] | undefined, now: number): Lease[] {
  return (leases ?? []).filter((lease) => lease.expiresAtMs > now);
}

/** Fills `out`; the caller adds the lease if the whole request is admitted. */
export function checkConcurrency(
  live: readonly Lease[],
  spec: ConcurrencySpec,
  now: number,
  out: StepResult,
): void {
  const admitted = live.length < spec.limit;
  let soonest = Number.POSITIVE_INFINITY;
  for (const lease of live) soonest = Math.min(soonest, lease.expiresAtMs);
  out.remaining = spec.limit - live.length - (admitted ? 1 : 0);
  out.resetAtMs = Number.isFinite(soonest) ? soonest : now;
  // Without releases, a slot frees when the soonest lease expires.
  out.admitAtMs = admitted ? now : spec.limit === 0 ? Number.POSITIVE_INFINITY : soonest;
}

export function releaseLease(leases: readonly Lease[] | undefined, now: number, leaseId: string): Lease[] {
  return liveLeases(leases, now).filter((lease) => lease.id !== leaseId);
}
