/**
 * A token bucket that refills continuously up to `limit` tokens per `periodMs` (burst = limit),
 * as https://docs.anthropic.com/en/api/rate-limits describes. State is `[level × period, last]`
 * in whole numbers, so every step is exact integer arithmetic below 2^53 (the Lua twin in
 * stores/lua/limiter.lua does the same operations and gets the same answers).
 *
 * Pros: smooth (no edge bursts of fixed windows), O(1) state, variable cost.
 * Cons: a burst of `limit` right after idling is allowed by design.
 */
import type { DimensionResult, PairState, RateSpec } from "./dimension.ts";

/** The bucket's scaled level at `now`, refilled since `last`. */
export function refilled(state: PairState | undefined, spec: RateSpec, now: number): number {
  const full = spec.limit * spec.periodMs;
  if (!state) return full;
  const elapsed = now - state[1];
  if (elapsed <= 0) return state[0];
  // Past 2^53 the sum is inexact, but then it is far above `full` and min() is still exact.
  return Math.min(full, state[0] + elapsed * spec.limit);
}

export function checkBucket(
  state: PairState | undefined,
  spec: RateSpec,
  now: number,
  cost: number,
): { result: DimensionResult; next: PairState } {
  const full = spec.limit * spec.periodMs;
  const level = refilled(state, spec, now);
  const needed = cost * spec.periodMs;
  const admitted = level >= needed;
  const after = admitted ? level - needed : level;
  const admitAtMs = admitted
    ? now
    : cost > spec.limit
      ? Number.POSITIVE_INFINITY
      : now + Math.ceil((needed - level) / spec.limit);
  return {
    result: {
      name: spec.name,
      limit: spec.limit,
      remaining: Math.max(0, Math.floor(after / spec.periodMs)),
      resetAtMs: now + Math.max(0, Math.ceil((full - after) / spec.limit)),
      admitAtMs,
    },
    next: [after, now],
  };
}

/** Charges `delta` more tokens (a refund when negative); the level may go below zero (debt). */
export function reconcileBucket(
  state: PairState | undefined,
  spec: RateSpec,
  now: number,
  delta: number,
): PairState {
  const full = spec.limit * spec.periodMs;
  return [Math.min(full, refilled(state, spec, now) - delta * spec.periodMs), now];
}

/** Milliseconds until this state is indistinguishable from a fresh one. */
export function bucketIdleMs(state: PairState, spec: RateSpec, now: number): number {
  const full = spec.limit * spec.periodMs;
  return Math.max(0, Math.ceil((full - refilled(state, spec, now)) / spec.limit));
}
