/**
 * One decision over every dimension of a request: admitted only if all admit, and only then are
 * the new states kept — a rejected request consumes nothing. Pure: the caller passes the
 * states, the time and the costs, and persists what comes back.
 */
import { checkConcurrency, releaseLease } from "./concurrency.ts";
import type {
  Decision,
  DimensionResult,
  DimensionSpec,
  DimensionState,
  Lease,
  PairState,
} from "./dimension.ts";
import { checkBucket, reconcileBucket } from "./token-bucket.ts";
import { checkWindow, reconcileWindow } from "./window.ts";

export interface Outcome {
  decision: Decision;
  /** The states to store: the new ones if admitted, else the ones passed in. */
  states: Array<DimensionState | undefined>;
}

function checkOne(
  state: DimensionState | undefined,
  spec: DimensionSpec,
  now: number,
  cost: number,
  leaseId: string,
): { result: DimensionResult; next: DimensionState } {
  switch (spec.kind) {
    case "rate":
      return checkBucket(state as PairState | undefined, spec, now, cost);
    case "window":
      return checkWindow(state as PairState | undefined, spec, now, cost);
    case "concurrency":
      return checkConcurrency(state as Lease[] | undefined, spec, now, leaseId);
  }
}

/** `retryAfter` is the latest of the dimensions' earliest admit times: each is monotone, so
 * that is the first instant at which every dimension admits the same request. */
export function retryAfter(results: DimensionResult[], now: number): number | null {
  let latest = now;
  for (const result of results) latest = Math.max(latest, result.admitAtMs);
  return Number.isFinite(latest) ? latest - now : null;
}

export function decide(
  states: ReadonlyArray<DimensionState | undefined>,
  specs: readonly DimensionSpec[],
  now: number,
  costs: readonly number[],
  leaseId = "",
): Outcome {
  const results: DimensionResult[] = [];
  const next: DimensionState[] = [];
  let admitted = true;
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i] as DimensionSpec;
    const checked = checkOne(states[i], spec, now, costs[i] ?? 0, leaseId);
    results.push(checked.result);
    next.push(checked.next);
    if (checked.result.admitAtMs > now) admitted = false;
  }
  return {
    decision: { admitted, retryAfterMs: admitted ? 0 : retryAfter(results, now), dimensions: results },
    states: admitted ? next : [...states],
  };
}

function reconcileOne(
  state: DimensionState | undefined,
  spec: DimensionSpec,
  now: number,
  delta: number,
  leaseId: string,
): DimensionState | undefined {
  if (spec.kind === "concurrency") return releaseLease(state as Lease[] | undefined, now, leaseId);
  if (delta === 0) return state;
  if (spec.kind === "rate") return reconcileBucket(state as PairState | undefined, spec, now, delta);
  return reconcileWindow(state as PairState | undefined, spec, now, delta);
}

export function reconcile(
  states: ReadonlyArray<DimensionState | undefined>,
  specs: readonly DimensionSpec[],
  now: number,
  deltas: readonly number[],
  leaseId = "",
): Array<DimensionState | undefined> {
  return specs.map((spec, i) => reconcileOne(states[i], spec, now, deltas[i] ?? 0, leaseId));
}
