/**
 * Demand calibrated to facts, each an explicit, documented assumption of the scenario: usage
 * per user from the share of subscribers who hit a weekly cap, and the number of users from
 * "the baseline sat exactly at the overload target before the deal".
 */
import type { Fleet } from "../capacity/fleet-schema.ts";
import type { Gpu } from "../capacity/gpu-catalog.ts";
import { ConfigError } from "../config/load.ts";
import type { Policy } from "../plans/schema.ts";
import { withApiDemand } from "./api-demand.ts";
import type { Scenario } from "./scenario.ts";
import { baselineOptions, type Prepared, prepare, type SimulationOptions, simulate } from "./simulate.ts";
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
export function calibrateIntensity(
  prepared: Prepared,
  share: number,
  onRun: () => void = () => {},
  dayConcentration?: number,
  range: [number, number] = [1e-3, 1e3],
  iterations = CALIBRATION_ITERATIONS,
): number {
  const startMs = Date.parse(prepared.scenario.compare.before);
  const weeklyShare = (intensityScale: number) => {
    onRun();
    return simulate(prepared, baselineOptions(startMs, { intensityScale, dayConcentration }))
      .weeklyLimitedShare;
  };
  let [low, high] = range;
  if (weeklyShare(low) > share || weeklyShare(high) < share) {
    throw new ConfigError(
      `cannot calibrate usage per user: no scale in ${low}–${high} gives ${share} at the weekly cap`,
    );
  }
  for (let i = 0; i < iterations; i++) {
    const middle = Math.sqrt(low * high);
    if (weeklyShare(middle) <= share) low = middle;
    else high = middle;
  }
  return low;
}

/** Share of subscribers the peak-hour rule newly limits: 5-hour-limited with it, not without. */
export function peakRuleNewlyLimited(
  prepared: Prepared,
  options: SimulationOptions,
  onRun: () => void,
): number {
  const withRule = simulate(prepared, options).sessionLimitedShare;
  const without = simulate(prepared, { ...options, liftPeak: true }).sessionLimitedShare;
  onRun();
  onRun();
  return withRule - without;
}

/** Day concentrations tried from an even week up, before narrowing the first bracket. */
const CONCENTRATION_STEP = 0.25;
const CONCENTRATION_CEILING = 6;
const CONCENTRATION_ITERATIONS = 7;
/** The shape is searched at this resolution (limited-user shares barely depend on it). */
export const SHAPE_RESOLUTION_MINUTES = 30;

export interface DemandShape {
  dayConcentration: number;
  /** The newly limited share the coarse search reached at that concentration. */
  newlyLimited: number;
}

/**
 * `peak_rule_newly_limited_share`: how concentrated users' weeks are (`dayWeight`) for the
 * peak-hour rule to newly limit the given share of subscribers, with usage per user
 * re-calibrated to `weekly_cap_share` at every step. An even week is the simplest shape, so the
 * search walks up from it and takes the first concentration that reaches the fact: the newly
 * limited share is not monotone (when nearly everyone is 5-hour-bound with and without the
 * rule, the rule limits no one new), and the least concentrated week that meets it is the
 * least assumption. It runs at a coarse resolution; the plan then calibrates usage at its own.
 */
export function calibrateDayConcentration(
  scenario: Scenario,
  fleet: Fleet,
  catalog: Map<string, Gpu>,
  policy: Policy,
  weeklyShare: number,
  target: number,
  onRun: () => void = () => {},
): DemandShape {
  const coarse = prepare(
    { ...scenario, resolution_minutes: Math.max(scenario.resolution_minutes, SHAPE_RESOLUTION_MINUTES) },
    fleet,
    catalog,
    policy,
  );
  const startMs = Date.parse(scenario.compare.before);
  let intensity: number | undefined;
  const newlyLimitedAt = (dayConcentration: number) => {
    // Usage per user moves little between neighbouring shapes: search near the last one first.
    const near: [number, number] | undefined = intensity ? [intensity / 4, intensity * 4] : undefined;
    try {
      intensity = near
        ? calibrateIntensity(coarse, weeklyShare, onRun, dayConcentration, near, 10)
        : calibrateIntensity(coarse, weeklyShare, onRun, dayConcentration);
    } catch {
      intensity = calibrateIntensity(coarse, weeklyShare, onRun, dayConcentration);
    }
    const options = baselineOptions(startMs, { intensityScale: intensity, dayConcentration });
    return peakRuleNewlyLimited(coarse, options, onRun);
  };
  let reached = newlyLimitedAt(0);
  if (reached >= target) return { dayConcentration: 0, newlyLimited: reached };
  let below = 0;
  let above: number | undefined;
  for (let k = CONCENTRATION_STEP; k <= CONCENTRATION_CEILING + 1e-9; k += CONCENTRATION_STEP) {
    reached = newlyLimitedAt(k);
    if (reached >= target) {
      above = k;
      break;
    }
    below = k;
  }
  if (above === undefined) {
    throw new ConfigError(
      `cannot calibrate the demand shape: the peak rule newly limits under ${target} of subscribers at every day concentration from 0 to ${CONCENTRATION_CEILING}`,
    );
  }
  let found = { dayConcentration: above, newlyLimited: reached };
  let high: number = above;
  for (let i = 0; i < CONCENTRATION_ITERATIONS; i++) {
    const middle: number = (below + high) / 2;
    const share = newlyLimitedAt(middle);
    if (share >= target) {
      high = middle;
      found = { dayConcentration: middle, newlyLimited: share };
    } else below = middle;
  }
  return found;
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
    throw new ConfigError(
      `cannot calibrate demand: the baseline is ${found.multiplier === 0 ? "overloaded at any" : "under target at every"} demand scale in ${CALIBRATION_RANGE.join("–")}`,
    );
  }
  return found.multiplier;
}

/**
 * `api_token_share`: the factor on every API figure (withApiDemand) at which API traffic is the
 * given share of all output tokens at the baseline the week before the deal. The share rises
 * with the factor (tier limits cut it, never reverse it), so bisection on a log scale finds it.
 */
export function calibrateApiDemand(
  scenario: Scenario,
  fleet: Fleet,
  catalog: Map<string, Gpu>,
  policy: Policy,
  share: number,
  intensityScale: number,
  onRun: () => void = () => {},
): number {
  const startMs = Date.parse(scenario.compare.before);
  const shareAt = (factor: number) => {
    onRun();
    const prepared = prepare(withApiDemand(scenario, factor), fleet, catalog, policy);
    return simulate(prepared, baselineOptions(startMs, { intensityScale })).apiShare;
  };
  let [low, high] = CALIBRATION_RANGE;
  if (shareAt(low) > share || shareAt(high) < share) {
    throw new ConfigError(
      `cannot calibrate API demand: no factor in ${low}–${high} on the API figures makes API ${share} of all tokens (tier limits cap what API keys are served)`,
    );
  }
  for (let i = 0; i < CALIBRATION_ITERATIONS; i++) {
    const middle = Math.sqrt(low * high);
    if (shareAt(middle) <= share) low = middle;
    else high = middle;
  }
  return Math.sqrt(low * high);
}
