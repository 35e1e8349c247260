/**
 * Requests in flight, as leases that expire: a request takes one when admitted and releases it
 * when it ends; a lease its holder never released (a crashed gateway) frees itself after
 * `leaseMs`.
 */
import type { ConcurrencySpec, DimensionResult, Lease } from "./dimension.ts";

export function liveLeases(state: Lease[] | undefined, now: number): Lease[] {
  return (state ?? []).filter((lease) => lease.expiresAtMs > now);
}

export function checkConcurrency(
  state: Lease[] | undefined,
  spec: ConcurrencySpec,
  now: number,
  leaseId: string,
): { result: DimensionResult; next: Lease[] } {
  const live = liveLeases(state, now);
  const admitted = live.length < spec.limit;
  const next = admitted ? [...live, { id: leaseId, expiresAtMs: now + spec.leaseMs }] : live;
  let soonest = Number.POSITIVE_INFINITY;
  for (const lease of live) soonest = Math.min(soonest, lease.expiresAtMs);
  return {
    result: {
      name: spec.name,
      limit: spec.limit,
      remaining: spec.limit - next.length,
      resetAtMs: Number.isFinite(soonest) ? soonest : now,
      // Without releases, a slot frees when the soonest lease expires.
      admitAtMs: admitted ? now : spec.limit === 0 ? Number.POSITIVE_INFINITY : soonest,
    },
    next,
  };
}

export function releaseLease(state: Lease[] | undefined, now: number, leaseId: string): Lease[] {
  return liveLeases(state, now).filter((lease) => lease.id !== leaseId);
}
