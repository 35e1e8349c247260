/**
 * How the fleet's GPUs are split between model families. A fixed split is the fleet file's
 * `allocation`; a re-balanced split moves GPUs towards the families that need them, as an
 * operator schedules replicas by the daily curve it knows: once an hour or a day, each period
 * split by that period's peak need, within per-family bounds. (An earlier version split each
 * period by the previous one's need; the hour's lag turned every fast rise of demand into
 * overload that had nothing to do with capacity, and made limits that add load look cheaper.)
 *
 * Need is demand over full-fleet capacity: the share of all GPUs a family would need to serve
 * its demand. Giving each family a share proportional to its need equalises utilisation across
 * families, which is the split that keeps the most headroom for the next peak.
 */

export type AllocationMode = "fixed" | "hourly" | "daily";

/** Steps between re-balancing for a mode at a resolution; Infinity for a fixed split. */
export function rebalancePeriodSteps(mode: AllocationMode, resolutionMinutes: number): number {
  if (mode === "fixed") return Number.POSITIVE_INFINITY;
  return Math.max(1, Math.round((mode === "hourly" ? 60 : 1_440) / resolutionMinutes));
}

/**
 * Shares proportional to need, summing to `total`, each within its [min, max] bound: share_f =
 * clamp(λ × need_f, min_f, max_f), with λ found by bisection (the sum grows with λ). Families
 * with no need keep their minimum unless the others are all at their maximum. With no need at
 * all the `fallback` split is kept.
 */
export function rebalance(
  need: readonly number[],
  total: number,
  bounds: ReadonlyArray<readonly [number, number]>,
  fallback: readonly number[],
): number[] {
  if (need.every((value) => value <= 0)) return [...fallback];
  const sharesAt = (lambda: number) =>
    need.map((value, f) => {
      const [min, max] = bounds[f] as readonly [number, number];
      return Math.min(max, Math.max(min, lambda * value));
    });
  const sum = (shares: number[]) => shares.reduce((a, b) => a + b, 0);
  let low = 0;
  let high = 1;
  while (sum(sharesAt(high)) < total && high < 1e12) high *= 2;
  for (let i = 0; i < 100; i++) {
    const middle = (low + high) / 2;
    if (sum(sharesAt(middle)) < total) low = middle;
    else high = middle;
  }
  const shares = sharesAt(high);
  // Families with need are all at their maximum: the rest goes to the others' room, evenly.
  let missing = total - sum(shares);
  if (missing > 1e-12) {
    const room = shares.map((share, f) => (bounds[f] as readonly [number, number])[1] - share);
    const totalRoom = sum(room);
    if (totalRoom > 0) {
      const fill = Math.min(1, missing / totalRoom);
      for (let f = 0; f < shares.length; f++) shares[f] = (shares[f] as number) + fill * (room[f] as number);
      missing = 0;
    }
  }
  // Bisection leaves the sum a hair above the total; take it back from the largest share.
  const excess = sum(shares) - total;
  if (excess > 0) {
    let largest = 0;
    for (let f = 1; f < shares.length; f++)
      if ((shares[f] as number) > (shares[largest] as number)) largest = f;
    shares[largest] = (shares[largest] as number) - excess;
  }
  return shares;
}

/**
 * The split in force at every step: fixed, or per period of `period` steps, proportional to
 * each family's peak need within that same period (`need(step, family)`: demand over full-fleet
 * capacity). Returns the split at a step.
 */
export function scheduleShares(
  steps: number,
  period: number,
  families: number,
  need: (step: number, family: number) => number,
  total: number,
  bounds: ReadonlyArray<readonly [number, number]>,
  fixed: readonly number[],
): (step: number) => readonly number[] {
  if (period === Number.POSITIVE_INFINITY) return () => fixed;
  const splits: number[][] = [];
  for (let start = 0; start < steps; start += period) {
    const peak = new Array<number>(families).fill(0);
    for (let step = start; step < Math.min(steps, start + period); step++)
      for (let f = 0; f < families; f++) peak[f] = Math.max(peak[f] as number, need(step, f));
    splits.push(rebalance(peak, total, bounds, fixed));
  }
  return (step) => splits[Math.floor(step / period)] ?? fixed;
}
