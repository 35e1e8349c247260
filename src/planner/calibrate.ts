/**
 * Demand calibrated to facts, each an explicit, documented assumption of the scenario: usage
 * per user from the share of subscribers who hit a weekly cap, and the number of users from
 * "the baseline sat exactly at the overload target before the deal".
 */
import { baselineOptions, type Prepared, simulate } from "./simulate.ts";
import { largestSustainable } from "./solve.ts";

/** Demand scales searched by calibration (absolute multiples of the scenario's figures). */
const CALIBRATION_RANGE: [number, number] = [1e-3, 1e3];
/** 16 halvings of a 2^20-wide log range: within 0.03% of the exact scale. */
const CALIBRATION_ITERATIONS = 16;

/**
 * `weekly_cap_share`: the usage per user (as a multiple of the scenario's) at which the given
 * share of subscribers hits a weekly cap at the baseline in the `before` week. The share rises
 * with usage, so bisection on a log scale finds it.
 */
export function calibrateIntensity(prepared: Prepared, share: number, onRun: () => void = () => {}): number {
  const startMs = Date.parse(prepared.scenario.compare.before);
  const weeklyShare = (intensityScale: number) => {
    onRun();
    return simulate(prepared, {
      startMs,
      sessionMultiplier: 1,
      liftPeak: false,
      apiMultiplier: 1,
      intensityScale,
    }).weeklyLimitedShare;
  };
  let [low, high] = [1e-3, 1e3];
  if (weeklyShare(low) > share || weeklyShare(high) < share) {
    throw new Error(
      `cannot calibrate usage per user: no scale in ${low}–${high} gives ${share} at the weekly cap`,
    );
  }
  for (let i = 0; i < CALIBRATION_ITERATIONS; i++) {
    const middle = Math.sqrt(low * high);
    if (weeklyShare(middle) <= share) low = middle;
    else high = middle;
  }
  return low;
}

/**
 * `baseline_at_target`: the demand scale at which the baseline policy sits exactly at the
 * overload target at the `before` instant (the largest sustainable scale).
 */
export function calibrateDemand(
  prepared: Prepared,
  intensityScale = 1,
  onRun: () => void = () => {},
): number {
  const { scenario } = prepared;
  const startMs = Date.parse(scenario.compare.before);
  const found = largestSustainable(
    prepared,
    (demandScale) => baselineOptions(startMs, { demandScale, intensityScale }),
    onRun,
    CALIBRATION_RANGE,
    CALIBRATION_ITERATIONS,
  );
  if (found.multiplier === 0 || found.atSearchLimit) {
    throw new Error(
      `cannot calibrate demand: the baseline is ${found.multiplier === 0 ? "overloaded at any" : "under target at every"} demand scale in ${CALIBRATION_RANGE.join("–")}`,
    );
  }
  return found.multiplier;
}
