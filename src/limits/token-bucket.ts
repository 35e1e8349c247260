/**
 * A token bucket that refills continuously up to `limit` tokens per `periodMs` (burst = limit),
 * as https://docs.anthropic.com/en/api/rate-limits describes. State is two numbers, `a` =
 * level × period and `b` = last update (ms); NaN means fresh (full). Every step is exact integer
 * arithmetic below 2^53, and the Lua twin in stores/lua/limiter.lua does the same operations in
 * the same order, so both stores reach identical answers.
 *
 * Pros: smooth (no edge bursts of fixed windows), O(1) state, variable cost.
 * Cons: a burst of `limit` right after idling is allowed by design.
 */
import type { RateSpec, StepResult } from "./dimension.ts";

/** The bucket's scaled level at `now`, refilled since `b`. */
export function bucketLevel(a: number, b: number, spec: RateSpec, now: number): number {
  const full = spec.limit * spec.periodMs;
  if (Number.isNaN(a)) return full;
  const elapsed = now - b;
  if (elapsed <= 0) return a;
  // Past 2^53 the sum is inexact, but then it is far above `full` and min() is still exact.
  return Math.min(full, a + elapsed * spec.limit);
}

export function checkBucket(
  a: number,
  b: number,
  spec: RateSpec,
  now: number,
  cost: number,
  out: StepResult,
): void {
  const full = spec.limit * spec.periodMs;
  const level = bucketLevel(a, b, spec, now);
  const needed = cost * spec.periodMs;
  const admitted = level >= needed;
  const after = admitted ? level - needed : level;
  out.admitAtMs = admitted
    ? now
    : cost > spec.limit
      ? Number.POSITIVE_INFINITY
      : now + Math.ceil((needed - level) / spec.limit);
  out.remaining = Math.max(0, Math.floor(after / spec.periodMs));
  out.resetAtMs = now + Math.max(0, Math.ceil((full - after) / spec.limit));
  out.a = after;
  out.b = now;
}

/** Charges `delta` more tokens (a refund when negative); the level may go below zero (debt). */
export function reconcileBucket(
  a: number,
  b: number,
  spec: RateSpec,
  now: number,
  delta: number,
  out: StepResult,
): void {
  out.a = Math.min(spec.limit * spec.periodMs, bucketLevel(a, b, spec, now) - delta * spec.periodMs);
  out.b = now;
}

/** Milliseconds until this state is indistinguishable from a fresh one. */
export function bucketIdleMs(a: number, b: number, spec: RateSpec, now: number): number {
  const full = spec.limit * spec.periodMs;
  return Math.max(0, Math.ceil((full - bucketLevel(a, b, spec, now)) / spec.limit));
}
