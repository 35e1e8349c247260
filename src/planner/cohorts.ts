/**
 * Users as cohorts: each plan's users are split into equal cohorts at the quantiles of a
 * log-normal intensity distribution, and every user of a cohort behaves alike. A week then
 * costs cohorts × minutes whatever the number of users, which is what lets a million users be
 * planned in seconds. Seeded offsets spread cohorts' daily habits so windows do not align.
 */
import { seededRandom } from "../upstreams/simulated-text.ts";

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
    -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  const poly = (k: number[], x: number) => k.reduce((sum, coefficient) => sum * x + coefficient, 0);
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -poly(c, q) / (poly(d, q) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

export interface Cohort {
  users: number;
  /** Multiplier on the plan's median tokens per active minute. */
  intensity: number;
  /** Shift of this cohort's daily curve, in minutes. */
  offsetMinutes: number;
}

export function makeCohorts(
  users: number,
  count: number,
  sigma: number,
  spreadHours: number,
  seed: number,
): Cohort[] {
  const random = seededRandom(seed);
  const cohorts: Cohort[] = [];
  for (let i = 0; i < count; i++) {
    const p = (i + 0.5) / count;
    cohorts.push({
      users: users / count,
      intensity: Math.exp(sigma * normalQuantile(p)),
      offsetMinutes: Math.round((random() * 2 - 1) * spreadHours * 60),
    });
  }
  return cohorts;
}
