/**
 * Requests in flight, as leases that expire: a request takes one when admitted, its gateway
 * keeps it alive while the request runs (keepLease, every third of `leaseMs`), and it is
 * released when the request ends. A lease its holder stopped keeping alive (a crashed gateway)
 * frees itself within `leaseMs`.
 */
import type { ConcurrencySpec, DimensionSpec, Lease, StepResult } from "./dimension.ts";

/** How long a lease lives without being kept alive, unless configured otherwise. */
export const DEFAULT_LEASE_MS = 60_000;

/**
 * When a refusal for requests in flight tells the client to try again. A slot frees when one of
 * the caller's running requests ends, which no one can know ahead; the soonest lease expiry is
 * only an upper bound (a live lease is kept alive, so it is never reached). Claude Code waits
 * exactly a retry-after of up to 60 s and gives up above it, the SDKs honour one under 60 s:
 * a few seconds lets them poll for the slot over their usual retries (Claude Code's ten: ≈50 s).
 */
export const CONCURRENCY_RETRY_HINT_MS = 5_000;

/** A refused dimension's earliest admit time as advised to the client (see above). */
export function advisedAdmitAtMs(spec: DimensionSpec | undefined, admitAtMs: number, now: number): number {
  if (spec?.kind !== "concurrency" || admitAtMs <= now) return admitAtMs;
  return Math.min(admitAtMs, now + CONCURRENCY_RETRY_HINT_MS);
}

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

/**
 * The lease `leaseId` expiring `leaseMs` from now: extended if held, put back if it had expired
 * (its request is still running, so it still occupies a slot).
 */
export function keepLease(
  leases: readonly Lease[] | undefined,
  now: number,
  leaseId: string,
  leaseMs: number,
): Lease[] {
  const kept = liveLeases(leases, now).filter((lease) => lease.id !== leaseId);
  kept.push({ id: leaseId, expiresAtMs: now + leaseMs });
  return kept;
}

export function releaseLease(leases: readonly Lease[] | undefined, now: number, leaseId: string): Lease[] {
  return liveLeases(leases, now).filter((lease) => lease.id !== leaseId);
}
