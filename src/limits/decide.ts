/**
 * One decision over every dimension of a request: admitted only if all admit, and only then is
 * the state changed — a rejected request consumes nothing. No I/O and no clock: the caller
 * passes the state, the time and the costs, and persists the state afterwards.
 */
import { checkConcurrency, keepLease, liveLeases, releaseLease } from "./concurrency.ts";
import type { Decision, DimensionResult, DimensionSpec, KeyState, StepResult } from "./dimension.ts";
import { bucketIdleMs, checkBucket, reconcileBucket } from "./token-bucket.ts";
import { chargeWindow, checkWindow, reconcileWindow, windowIdleMs } from "./window.ts";

const step: StepResult = { admitAtMs: 0, remaining: 0, resetAtMs: 0, a: 0, b: 0 };
/** New pair values, committed only when every dimension admits. Grows as needed. */
let pending = new Float64Array(16);

/**
 * Decides and, if admitted (and `commit`), updates `state` in place. `retryAfterMs` is the latest of the
 * dimensions' earliest admit times: each is monotone, so that is the first instant at which
 * every dimension admits the same request.
 */
export function decide(
  state: KeyState,
  specs: readonly DimensionSpec[],
  now: number,
  costs: readonly number[],
  leaseId = "",
  commit = true,
): Decision {
  const n = specs.length;
  if (pending.length < 2 * n) pending = new Float64Array(4 * n);
  const dimensions: DimensionResult[] = new Array(n);
  let latest = now;
  for (let i = 0; i < n; i++) {
    const spec = specs[i] as DimensionSpec;
    const a = state.a(i);
    const b = state.b(i);
    if (spec.kind === "rate") checkBucket(a, b, spec, now, costs[i] ?? 0, step);
    else if (spec.kind === "window") checkWindow(a, b, spec, now, costs[i] ?? 0, step);
    else {
      const live = liveLeases(state.leasesOf(i), now);
      if (commit) state.setLeases(i, live); // dropping expired leases changes nothing observable
      checkConcurrency(live, spec, now, step);
      step.a = a;
      step.b = b;
    }
    pending[2 * i] = step.a;
    pending[2 * i + 1] = step.b;
    if (step.admitAtMs > latest) latest = step.admitAtMs;
    dimensions[i] = {
      name: spec.name,
      limit: spec.limit,
      remaining: step.remaining,
      resetAtMs: step.resetAtMs,
      admitAtMs: step.admitAtMs,
    };
  }
  const admitted = latest === now;
  if (admitted && commit) {
    for (let i = 0; i < n; i++) {
      const spec = specs[i] as DimensionSpec;
      if (spec.kind === "concurrency") {
        state.setLeases(i, [...(state.leasesOf(i) ?? []), { id: leaseId, expiresAtMs: now + spec.leaseMs }]);
      } else {
        state.set(i, pending[2 * i] as number, pending[2 * i + 1] as number);
      }
    }
  }
  return {
    admitted,
    retryAfterMs: admitted ? 0 : Number.isFinite(latest) ? latest - now : null,
    dimensions,
    atMs: now,
  };
}

/** Charges actual − estimate per dimension and releases this request's leases, in place. */
export function reconcile(
  state: KeyState,
  specs: readonly DimensionSpec[],
  now: number,
  deltas: readonly number[],
  leaseId = "",
): void {
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i] as DimensionSpec;
    const delta = deltas[i] ?? 0;
    if (spec.kind === "concurrency") {
      state.setLeases(i, releaseLease(state.leasesOf(i), now, leaseId));
      continue;
    }
    if (delta === 0) continue;
    const a = state.a(i);
    const b = state.b(i);
    if (spec.kind === "rate") reconcileBucket(a, b, spec, now, delta, step);
    else reconcileWindow(a, b, spec, now, delta, step);
    state.set(i, step.a, step.b);
  }
}

/** Keeps this request's leases alive for another `leaseMs` of each dimension, in place. */
export function keepLeases(
  state: KeyState,
  specs: readonly DimensionSpec[],
  now: number,
  leaseId: string,
): void {
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i] as DimensionSpec;
    if (spec.kind === "concurrency")
      state.setLeases(i, keepLease(state.leasesOf(i), now, leaseId, spec.leaseMs));
  }
}

/**
 * Replays usage served at `at` into the window dimensions, in place (rebuilding from the
 * ledger). Rates and concurrency are short-lived and start fresh after a restart.
 */
export function replay(
  state: KeyState,
  specs: readonly DimensionSpec[],
  at: number,
  costs: readonly number[],
): void {
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i] as DimensionSpec;
    if (spec.kind !== "window") continue;
    chargeWindow(state.a(i), state.b(i), spec, at, costs[i] ?? 0, step);
    state.set(i, step.a, step.b);
  }
}

/** Milliseconds until every dimension's state equals a fresh one (for expiry and eviction). */
export function idleMs(state: KeyState, specs: readonly DimensionSpec[], now: number): number {
  let longest = 0;
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i] as DimensionSpec;
    const a = state.a(i);
    let ms = 0;
    if (spec.kind === "rate") ms = bucketIdleMs(a, state.b(i), spec, now);
    else if (spec.kind === "window") ms = windowIdleMs(a, spec, now);
    else for (const lease of state.leasesOf(i) ?? []) ms = Math.max(ms, lease.expiresAtMs - now);
    if (ms > longest) longest = ms;
  }
  return longest;
}
