/**
 * Users as cohorts: each plan's users are split into equal cohorts at the quantiles of a
 * log-normal intensity distribution, and every user of a cohort behaves alike. A week then
 * costs cohorts × minutes whatever the number of users, which is what lets a million users be
 * planned in seconds. Seeded offsets spread cohorts' daily habits so windows do not align.
 */
import { hashString, seededRandom } from "../upstreams/simulated-text.ts";

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

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

export interface Cohort {
  users: number;
  /** Multiplier on the plan's median tokens per active minute. */
  intensity: number;
  /** The band of intensity quantiles (0–1) this cohort's users stand for, and its σ. */
  band: [number, number];
  sigma: number;
  /** Shift of this cohort's daily curve, in minutes. */
  offsetMinutes: number;
  /**
   * Where in the week this cohort's busiest days fall (0–1, `dayWeight`). A golden-ratio
   * sequence over the cohorts: evenly spread within every band of intensity, so each day sees
   * a like mix of light and heavy users.
   */
  dayPhase: number;
}

const GOLDEN = 0.6180339887498949;
const SILVER = Math.SQRT2 - 1;
const WEEK_DAYS = 7;

/**
 * How a user's week is spread over its days: day `day`'s share of the week's usage, times 7
 * (so a uniform week is 1 every day). `concentration` 0 spreads the week evenly; higher values
 * put more of the same week's usage into the days around the cohort's `phase` (a von Mises
 * profile over the 7-day cycle). Every day keeps some usage and the profile moves smoothly with
 * the concentration, so shares calibrated on it move smoothly too.
 */
export function dayWeight(day: number, concentration: number, phase: number): number {
  if (concentration === 0) return 1;
  const weight = (d: number) => Math.exp(concentration * Math.cos(2 * Math.PI * (d / WEEK_DAYS - phase)));
  let sum = 0;
  for (let d = 0; d < WEEK_DAYS; d++) sum += weight(d);
  return (WEEK_DAYS * weight(day % WEEK_DAYS)) / sum;
}

/**
 * Effective active days per week of a day profile: (Σw)² / Σw², 7 for an even week, fewer as
 * usage concentrates (2 for a week spent evenly on exactly two days).
 */
export function effectiveActiveDays(concentration: number): number {
  let sum = 0;
  let squares = 0;
  for (let d = 0; d < WEEK_DAYS; d++) {
    const w = dayWeight(d, concentration, 0);
    sum += w;
    squares += w * w;
  }
  return (sum * sum) / squares;
}

/**
 * A seed for one plan or tier of a scenario: from the scenario's seed and the plan's name, so a
 * plan's cohorts do not depend on where it stands in the file.
 */
export function seedFor(scenarioSeed: number, name: string): number {
  return (scenarioSeed + hashString(name)) >>> 0;
}

export function makeCohorts(
  users: number,
  count: number,
  sigma: number,
  spreadHours: number,
  seed: number,
): Cohort[] {
  // Habits are spread by a low-discrepancy sequence, rotated by the seed (quasi-Monte Carlo):
  // every band of intensity gets offsets across the whole spread, so shares converge with the
  // number of cohorts far faster than with independent random offsets.
  const shift = seededRandom(seed)();
  const cohorts: Cohort[] = [];
  for (let i = 0; i < count; i++) {
    const p = (i + 0.5) / count;
    cohorts.push({
      users: users / count,
      intensity: Math.exp(sigma * normalQuantile(p)),
      band: [i / count, (i + 1) / count],
      sigma,
      offsetMinutes: Math.round((((i * SILVER + shift) % 1) * 2 - 1) * spreadHours * 60),
      dayPhase: (i * GOLDEN) % 1,
    });
  }
  return cohorts;
}

/**
 * The share of a cohort's users who reach a limit, from the cohort's peak demand-to-limit ratio
 * (1 = it just reached it). Every user of the cohort stands for a band of intensities; a user
 * `k` times as intense as the cohort's middle would see about `k` times the ratio, so the users
 * above intensity `middle / ratio` reach it. Counting the band instead of the whole cohort makes
 * the share move smoothly with demand and limits rather than in steps of one cohort, which is
 * what lets calibration to a share be exact.
 */
export function bandShareAtLimit(cohort: Cohort, ratio: number): number {
  if (!(ratio > 0)) return 0;
  const [low, high] = cohort.band;
  if (cohort.sigma === 0 || high <= low) return ratio >= 1 ? 1 : 0;
  const middle = normalQuantile((low + high) / 2);
  const threshold = normalCdf(middle - Math.log(ratio) / cohort.sigma);
  return (high - Math.min(high, Math.max(low, threshold))) / (high - low);
}
