/**
 * A usage window with a fixed budget: the 5-hour session window and the weekly cap.
 * - first-use windows (no anchor) start with the first admitted request after the previous
 *   window ended and last `periodMs` (Claude's 5-hour session; the rolling weekly cap);
 * - anchored windows repeat every `periodMs` from `anchorMs` (a weekly reset at a set time).
 * State is two numbers, `a` = window start and `b` = used; NaN `a` means no window yet.
 */
import type { StepResult, WindowSpec } from "./dimension.ts";

/** The start of the window that `now` falls in, or NaN if no first-use window is running. */
export function currentStart(a: number, spec: WindowSpec, now: number): number {
  if (spec.anchorMs !== undefined) {
    return spec.anchorMs + Math.floor((now - spec.anchorMs) / spec.periodMs) * spec.periodMs;
  }
  return now < a + spec.periodMs ? a : Number.NaN; // false for NaN `a`
}

export function checkWindow(
  a: number,
  b: number,
  spec: WindowSpec,
  now: number,
  cost: number,
  out: StepResult,
): void {
  const running = currentStart(a, spec, now);
  // A first-use window that is not running would start now, with this request.
  const start = Number.isNaN(running) ? now : running;
  const used = a === start ? b : 0;
  const admitted = used + cost <= spec.limit;
  const after = admitted ? used + cost : used;
  const end = start + spec.periodMs;
  // When full, the next window admits: a first-use one starting then, an anchored one at its boundary.
  out.admitAtMs = admitted ? now : cost > spec.limit ? Number.POSITIVE_INFINITY : end;
  out.remaining = Math.max(0, spec.limit - after);
  out.resetAtMs = end;
  out.a = start;
  out.b = after;
}

/** Charges `delta` more to the running window (a refund when negative). A window that has
 * ended is not charged: the ledger still has the usage, and the next window starts clean. */
export function reconcileWindow(
  a: number,
  b: number,
  spec: WindowSpec,
  now: number,
  delta: number,
  out: StepResult,
): void {
  const running = currentStart(a, spec, now);
  out.a = a;
  out.b = !Number.isNaN(running) && a === running ? Math.max(0, b + delta) : b;
}

/**
 * Charges usage served at `at` to the window it fell in, whatever the limit: rebuilding a
 * window from the ledger replays what was admitted then, so it is never refused now. A charge
 * of nothing starts no window (a refused request was not served).
 */
export function chargeWindow(
  a: number,
  b: number,
  spec: WindowSpec,
  at: number,
  cost: number,
  out: StepResult,
): void {
  out.a = a;
  out.b = b;
  if (cost <= 0) return;
  const running = currentStart(a, spec, at);
  const start = Number.isNaN(running) ? at : running;
  out.a = start;
  out.b = (a === start ? b : 0) + cost;
}

/** Milliseconds until this state is indistinguishable from a fresh one. */
export function windowIdleMs(a: number, spec: WindowSpec, now: number): number {
  return Number.isNaN(a) ? 0 : Math.max(0, a + spec.periodMs - now);
}
