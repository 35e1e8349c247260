/**
 * A usage window with a fixed budget: the 5-hour session window and the weekly cap.
 * - first-use windows (no anchor) start with the first admitted request after the previous
 *   window ended and last `periodMs` (Claude's 5-hour session; the rolling weekly cap);
 * - anchored windows repeat every `periodMs` from `anchorMs` (a weekly reset at a set time).
 * State is `[start, used]`; a window whose end has passed is as good as fresh.
 */
import type { DimensionResult, PairState, WindowSpec } from "./dimension.ts";

/** The start of the window that `now` falls in, or NaN if no first-use window is running. */
export function currentStart(state: PairState | undefined, spec: WindowSpec, now: number): number {
  if (spec.anchorMs !== undefined) {
    return spec.anchorMs + Math.floor((now - spec.anchorMs) / spec.periodMs) * spec.periodMs;
  }
  if (state && now < state[0] + spec.periodMs) return state[0];
  return Number.NaN;
}

function usedIn(state: PairState | undefined, start: number): number {
  return state && state[0] === start ? state[1] : 0;
}

export function checkWindow(
  state: PairState | undefined,
  spec: WindowSpec,
  now: number,
  cost: number,
): { result: DimensionResult; next: PairState } {
  const running = currentStart(state, spec, now);
  // A first-use window that is not running would start now, with this request.
  const start = Number.isNaN(running) ? now : running;
  const used = usedIn(state, start);
  const admitted = used + cost <= spec.limit;
  const end = start + spec.periodMs;
  const after = admitted ? used + cost : used;
  let admitAtMs: number;
  if (admitted) admitAtMs = now;
  else if (cost > spec.limit) admitAtMs = Number.POSITIVE_INFINITY;
  else admitAtMs = end; // the next window (first-use: starting then; anchored: that boundary)
  return {
    result: {
      name: spec.name,
      limit: spec.limit,
      remaining: Math.max(0, spec.limit - after),
      resetAtMs: end,
      admitAtMs,
    },
    // A rejected request does not start a first-use window.
    next: admitted || !Number.isNaN(running) ? [start, after] : (state ?? [Number.NaN, 0]),
  };
}

/** Charges `delta` more to the running window (a refund when negative). A window that has
 * ended is not charged: the ledger still has the usage, and the next window starts clean. */
export function reconcileWindow(
  state: PairState | undefined,
  spec: WindowSpec,
  now: number,
  delta: number,
): PairState | undefined {
  const running = currentStart(state, spec, now);
  if (Number.isNaN(running) || !state || state[0] !== running) return state;
  return [running, Math.max(0, state[1] + delta)];
}

/** Milliseconds until this state is indistinguishable from a fresh one. */
export function windowIdleMs(state: PairState, spec: WindowSpec, now: number): number {
  return Math.max(0, state[0] + spec.periodMs - now);
}
