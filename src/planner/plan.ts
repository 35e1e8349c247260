/**
 * A planning run: simulate the week before and the week after the deal, solve for the largest
 * sustainable 5-hour multiplier (peak rule lifted) and API multiplier on each side, and state
 * the conclusions from those numbers. Pure computation; the CLI prints and writes the results.
 */
import type { Fleet } from "../capacity/fleet-schema.ts";
import type { Gpu } from "../capacity/gpu-catalog.ts";
import { gpuEquivalents } from "../capacity/timeline.ts";
import type { Policy } from "../plans/schema.ts";
import { withApiDemand } from "./api-demand.ts";
import {
  calibrateApiDemand,
  calibrateDayConcentration,
  calibrateDemand,
  calibrateIntensity,
  peakRuleNewlyLimited,
  SHAPE_RESOLUTION_MINUTES,
} from "./calibrate.ts";
import type { Scenario } from "./scenario.ts";
import { type Sensitivity, sensitivity } from "./sensitivity.ts";
import {
  baselineOptions,
  meetsServiceLevels,
  prepare,
  type SimulationOptions,
  type SimulationResult,
  simulate,
} from "./simulate.ts";
import { breakEvenDemand, largestSustainable, type Sustainable } from "./solve.ts";

/** API limits "can rise" when API traffic can grow by at least this factor without overload. */
export const API_RAISE_THRESHOLD = 1.25;

export interface Multiplier {
  value: number;
  /** The search's ceiling was sustainable: the true value is at least `value`. */
  atSearchLimit: boolean;
}

export interface SideResult {
  label: "before" | "after";
  startMs: number;
  gpusOnline: number;
  /** The online fleet in GPUs of the scenario's reference kind (`reference_gpu`). */
  gpuEquivalents: number;
  baseline: SimulationResult;
  doubledWithoutPeak: SimulationResult;
  /** Largest 5-hour multiplier with the peak rule lifted that keeps overload under target. */
  maxSessionMultiplier: Multiplier;
  /** The same for each plan alone, the other plans kept at their budgets. */
  maxSessionMultiplierByPlan: Record<string, Multiplier>;
  /** Largest multiplier on weekly caps with the 5-hour limits doubled and the peak rule lifted. */
  maxWeeklyMultiplier: Multiplier;
  /** Largest multiplier on every API tier's limits at baseline subscription limits. */
  maxApiMultiplier: Multiplier;
  /**
   * The largest demand, as a multiple of the demand used, at which each policy stays under the
   * target: above 1 the verdict holds with that much room, below 1 it fails by that much.
   */
  breakEvenDemand: { baseline: Multiplier; doubledPeakLifted: Multiplier };
}

export interface PlanResult {
  scenario: Scenario;
  /** The absolute demand scale simulated: calibration × `demand.scale`. */
  demandScale: number;
  /** The scale calibration found (1 without calibration). */
  calibratedScale: number;
  /** Usage per user as a multiple of the scenario's, from `weekly_cap_share` (1 without it). */
  intensityScale: number;
  /** The factor on every API figure, from `api_token_share` (1 without it). */
  apiDemandFactor: number;
  /** How concentrated subscribers' weeks are: given, or calibrated to the peak rule's known effect. */
  dayConcentration: number;
  /** Whether `dayConcentration` was calibrated (from `peak_rule_newly_limited_share`). */
  dayConcentrationCalibrated: boolean;
  /** Subscribers the peak rule limits who would not be limited without it, before the deal. */
  peakRuleNewlyLimited: number;
  before: SideResult;
  after: SideResult;
  /** How the doubling verdict's margin moves with each input (sensitivity.ts). */
  sensitivity: Sensitivity;
  conclusions: { doubleSessionAndLiftPeak: [boolean, boolean]; raiseApi: [boolean, boolean] };
}

const asMultiplier = (found: Sustainable): Multiplier => ({
  value: found.multiplier,
  atSearchLimit: found.atSearchLimit,
});

export function plan(
  given: Scenario,
  fleet: Fleet,
  catalog: Map<string, Gpu>,
  policy: Policy,
  gpusOnlineAt: (ms: number) => number,
  /** Runs done of an upper bound, and the stage they belong to. */
  onProgress: (done: number, total: number, stage: string) => void = () => {},
): PlanResult {
  const calibrating = given.demand.calibrate === "baseline_at_target";
  const weeklyShare = given.demand.weekly_cap_share;
  const newlyLimitedShare = given.demand.peak_rule_newly_limited_share;
  // Upper bound of runs: the calibrations (2 + 16 each), per side 2 runs and a solver (2 + 12)
  // per plan, joint, API and the two break-evens (2 + 16); the sensitivity's variants, each a
  // calibration and two break-evens. Solvers may stop sooner.
  const calibrationRuns = calibrating ? 18 : 0;
  const apiRuns = given.demand.api_token_share === undefined ? 0 : 18;
  // The shape search: up to 24 steps and 7 halvings, each a usage calibration and 2 runs.
  const shapeRuns = newlyLimitedShare === undefined ? 0 : 31 * 14;
  const total =
    apiRuns +
    shapeRuns +
    (weeklyShare === undefined ? 0 : 18) +
    calibrationRuns +
    2 +
    2 * (2 + (5 + Object.keys(given.demand.plans).length) * 14) +
    // Sensitivity: up to 21 variants, four of which re-calibrate usage, two the shape too.
    21 * (calibrationRuns + 2 * 14) +
    4 * 18 +
    2 * shapeRuns;
  let done = 0;
  let stage = "calibrating the demand shape";
  const ran = () => onProgress(++done, total, stage);
  const enter = (next: string) => {
    stage = next;
    onProgress(done, total, stage);
  };
  const tick = <T>(value: T): T => {
    ran();
    return value;
  };
  // The demand shape first (it changes how usage per user meets the weekly-cap fact), then usage
  // per user, then the level.
  const shape =
    newlyLimitedShare === undefined || weeklyShare === undefined
      ? undefined
      : calibrateDayConcentration(given, fleet, catalog, policy, weeklyShare, newlyLimitedShare, ran);
  const shaped: Scenario = shape
    ? { ...given, demand: { ...given.demand, day_concentration: shape.dayConcentration } }
    : given;
  enter("calibrating usage per user, API demand and the demand level");
  const intensityScale =
    weeklyShare === undefined
      ? 1
      : calibrateIntensity(prepare(shaped, fleet, catalog, policy), weeklyShare, ran);
  // API volumes to their named share of all tokens (subscriber usage is already fixed).
  const apiShare = given.demand.api_token_share;
  const apiDemandFactor =
    apiShare === undefined
      ? 1
      : calibrateApiDemand(
          { ...shaped, resolution_minutes: Math.max(shaped.resolution_minutes, SHAPE_RESOLUTION_MINUTES) },
          fleet,
          catalog,
          policy,
          apiShare,
          intensityScale,
          ran,
        );
  const scenario = apiDemandFactor === 1 ? shaped : withApiDemand(shaped, apiDemandFactor);
  const prepared = prepare(scenario, fleet, catalog, policy);
  const calibratedScale = calibrating ? calibrateDemand(prepared, intensityScale, ran) : 1;
  const demandScale = calibratedScale * scenario.demand.scale;
  const side = (label: "before" | "after", at: string): SideResult => {
    enter(`solving the week ${label} (${at.slice(0, 10)})`);
    const startMs = Date.parse(at);
    const base = baselineOptions(startMs, { demandScale, intensityScale });
    const doubled = { ...base, sessionMultiplier: 2, liftPeak: true };
    const baseline = tick(simulate(prepared, base));
    const doubledWithoutPeak = tick(simulate(prepared, doubled));
    const session = largestSustainable(
      prepared,
      (m) => ({ ...base, liftPeak: true, sessionMultiplier: m }),
      ran,
    );
    const api = largestSustainable(prepared, (m) => ({ ...base, apiMultiplier: m }), ran);
    const weekly = largestSustainable(prepared, (m) => ({ ...doubled, weeklyMultiplier: m }), ran);
    const byPlan: Record<string, Multiplier> = {};
    for (const { name } of prepared.plans) {
      const one = (m: number) => ({ ...base, liftPeak: true, planMultipliers: { [name]: m } });
      byPlan[name] = asMultiplier(largestSustainable(prepared, one, ran));
    }
    const breakEven = (options: SimulationOptions) =>
      asMultiplier(breakEvenDemand(prepared, (m) => ({ ...options, demandScale: demandScale * m }), ran));
    return {
      label,
      startMs,
      gpusOnline: gpusOnlineAt(startMs),
      gpuEquivalents: gpuEquivalents(fleet, catalog, startMs, scenario.reference_gpu),
      baseline,
      doubledWithoutPeak,
      maxSessionMultiplier: asMultiplier(session),
      maxSessionMultiplierByPlan: byPlan,
      maxApiMultiplier: asMultiplier(api),
      maxWeeklyMultiplier: asMultiplier(weekly),
      breakEvenDemand: { baseline: breakEven(base), doubledPeakLifted: breakEven(doubled) },
    };
  };
  const before = side("before", scenario.compare.before);
  // The one definition of "newly limited", as the shape calibration measures it.
  const newlyLimited = peakRuleNewlyLimited(
    prepared,
    baselineOptions(before.startMs, { demandScale, intensityScale }),
    ran,
  );
  const after = side("after", scenario.compare.after);
  enter("sensitivity: each input moved alone");
  const sensitive = sensitivity(scenario, fleet, catalog, policy, intensityScale, ran);
  onProgress(total, total, "done");
  const canDouble = (s: SideResult) => meetsServiceLevels(s.doubledWithoutPeak);
  return {
    scenario,
    demandScale,
    calibratedScale,
    intensityScale,
    apiDemandFactor,
    dayConcentration: scenario.demand.day_concentration,
    dayConcentrationCalibrated: shape !== undefined,
    peakRuleNewlyLimited: newlyLimited,
    before,
    after,
    sensitivity: sensitive,
    conclusions: {
      doubleSessionAndLiftPeak: [canDouble(before), canDouble(after)],
      raiseApi: [
        before.maxApiMultiplier.value >= API_RAISE_THRESHOLD,
        after.maxApiMultiplier.value >= API_RAISE_THRESHOLD,
      ],
    },
  };
}

/**
 * A demand margin said in hardware: the reference GPUs the fleet could lose (positive) or must
 * gain (negative) for the policy to sit exactly at its service levels, scaling the fleet as a
 * whole. A demand margin m means capacity ÷ m serves the demand used.
 */
export function capacityMargin(side: SideResult, demandMargin: number): number {
  if (demandMargin <= 0) return Number.NEGATIVE_INFINITY;
  return side.gpuEquivalents * (1 - 1 / demandMargin);
}

/**
 * The policy the plan supports after the deal: budgets and API limits scaled, peak rule gone.
 * It uses the joint multiplier (every plan raised together), not the per-plan ones, which each
 * assume the other plans stay where they are.
 */
export function plannedPolicy(base: Policy, result: PlanResult, effectiveFrom: string): Policy {
  // Round down to a tenth and stay within ×4 of the baseline: a plan is a model, not a promise.
  const session = Math.min(4, Math.floor(result.after.maxSessionMultiplier.value * 10) / 10);
  const api = Math.min(4, Math.floor(result.after.maxApiMultiplier.value * 10) / 10);
  const plans: Policy["plans"] = {};
  for (const [name, planned] of Object.entries(base.plans)) {
    if (planned.kind === "subscription") {
      plans[name] = {
        ...planned,
        session_budget_usd: Math.round(planned.session_budget_usd * session * 100) / 100,
        peak: null,
      };
    } else {
      const rateLimits = Object.fromEntries(
        Object.entries(planned.rate_limits).map(([modelClass, limits]) => [
          modelClass,
          {
            rpm: Math.floor(limits.rpm * api),
            itpm: Math.floor(limits.itpm * api),
            otpm: Math.floor(limits.otpm * api),
          },
        ]),
      );
      plans[name] = { ...planned, rate_limits: rateLimits };
    }
  }
  return {
    ...base,
    version: `planned-${effectiveFrom.slice(0, 10)}`,
    effective_from: effectiveFrom,
    description: `Planned: 5-hour budgets ×${session}, peak rule lifted, API limits ×${api}`,
    plans,
  };
}
