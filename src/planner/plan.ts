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
  type DemandShape,
  peakRuleNewlyLimited,
  SHAPE_RESOLUTION_MINUTES,
} from "./calibrate.ts";
import type { Scenario } from "./scenario.ts";
import { SENSITIVITY_RESOLUTION_MINUTES, type Sensitivity, sensitivity } from "./sensitivity.ts";
import {
  baselineOptions,
  meetsServiceLevels,
  type Prepared,
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
  const resolution = given.resolution_minutes;
  const plans = Object.keys(given.demand.plans).length;
  // Upper bounds of runs per stage (solvers may stop sooner), each weighed by the steps of its
  // runs, so the bar moves with the work rather than the count of runs.
  const stages = progressStages(
    [
      [SHAPE_STAGE, shapeRunsOf(given), shapeResolution(given)],
      ["calibrating usage per user, API demand and the demand level", calibrationRunsOf(given), resolution],
      [`solving the week before (${given.compare.before.slice(0, 10)})`, sideRuns(plans) + 2, resolution],
      [`solving the week after (${given.compare.after.slice(0, 10)})`, sideRuns(plans), resolution],
      [SENSITIVITY_STAGE, sensitivityRuns(shapeRunsOf(given)), SENSITIVITY_RESOLUTION_MINUTES],
    ],
    given.days,
    onProgress,
  );
  const { ran, enter } = stages;
  const tick = <T>(value: T): T => {
    ran();
    return value;
  };
  const calibration = calibrateScenario(given, fleet, catalog, policy, ran, enter);
  // The sensitivity re-runs the shape search twice: this run's own count is the better bound.
  stages.estimate(SENSITIVITY_STAGE, sensitivityRuns(stages.runsIn(SHAPE_STAGE)));
  const { scenario, prepared, intensityScale, apiDemandFactor, calibratedScale, demandScale, shape } =
    calibration;
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
  enter(SENSITIVITY_STAGE);
  const sensitive = sensitivity(scenario, fleet, catalog, policy, intensityScale, ran);
  stages.finish();
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
  // 90,000 × 2.8 is 251,999.99… in floating point: floor what the decimal product is.
  const scaled = (value: number) => Math.floor(value * api + 1e-6);
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
            rpm: scaled(limits.rpm),
            itpm: scaled(limits.itpm),
            otpm: scaled(limits.otpm),
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

/** A scenario with its calibrations done: the inputs every simulation of a plan runs on. */
export interface CalibratedScenario {
  /** The scenario with the calibrated shape and API volumes written in. */
  scenario: Scenario;
  prepared: Prepared;
  intensityScale: number;
  apiDemandFactor: number;
  calibratedScale: number;
  /** calibratedScale × demand.scale: the demand scale every run uses. */
  demandScale: number;
  shape: DemandShape | undefined;
}

/**
 * The scenario's calibrations in order: the demand shape (it changes how usage per user meets
 * the weekly-cap fact), usage per user, API volumes to their named share (subscriber usage is
 * fixed by then), then the level.
 */
export function calibrateScenario(
  given: Scenario,
  fleet: Fleet,
  catalog: Map<string, Gpu>,
  policy: Policy,
  ran: () => void = () => {},
  enter: (stage: string) => void = () => {},
): CalibratedScenario {
  const weeklyShare = given.demand.weekly_cap_share;
  const newlyLimitedShare = given.demand.peak_rule_newly_limited_share;
  enter(SHAPE_STAGE);
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
  const apiShare = given.demand.api_token_share;
  const apiDemandFactor =
    apiShare === undefined
      ? 1
      : calibrateApiDemand(
          { ...shaped, resolution_minutes: shapeResolution(shaped) },
          fleet,
          catalog,
          policy,
          apiShare,
          intensityScale,
          ran,
        );
  const scenario = apiDemandFactor === 1 ? shaped : withApiDemand(shaped, apiDemandFactor);
  const prepared = prepare(scenario, fleet, catalog, policy);
  const calibratedScale =
    scenario.demand.calibrate === "baseline_at_target" ? calibrateDemand(prepared, intensityScale, ran) : 1;
  return {
    scenario,
    prepared,
    intensityScale,
    apiDemandFactor,
    calibratedScale,
    demandScale: calibratedScale * scenario.demand.scale,
    shape,
  };
}

const shapeResolution = (scenario: Scenario) =>
  Math.max(scenario.resolution_minutes, SHAPE_RESOLUTION_MINUTES);

/** The shape search: up to 24 steps and 7 halvings, each a usage calibration (≤ 16) and 2 runs. */
const shapeRunsOf = (scenario: Scenario) =>
  scenario.demand.peak_rule_newly_limited_share === undefined ? 0 : 31 * 14;

/** Usage (2 + 16), API volumes (2 + 16) and level (2 + 16) calibrations, where the scenario asks. */
const calibrationRunsOf = (scenario: Scenario) =>
  (scenario.demand.weekly_cap_share === undefined ? 0 : 18) +
  (scenario.demand.api_token_share === undefined ? 0 : 18) +
  (scenario.demand.calibrate === "baseline_at_target" ? 18 : 0);

/** Per side: 2 runs, a solver (2 + 12) per plan, joint, weekly and API, two break-evens (2 + 16). */
const sideRuns = (plans: number) => 2 + (3 + plans) * 14 + 2 * 18;

/**
 * Up to 21 variants, each a level calibration and two break-evens (2 + 12); four re-calibrate
 * usage, two the shape as well (`shapeRuns` each).
 */
const sensitivityRuns = (shapeRuns: number) => 21 * (18 + 2 * 14) + 4 * 18 + 2 * shapeRuns;

const SHAPE_STAGE = "calibrating the demand shape";
const SENSITIVITY_STAGE = "sensitivity: each input moved alone";

/**
 * Progress through a plan's stages, weighed by work: each stage's upper bound of runs times the
 * steps of one run. Solvers often stop before their bound, so on entering a stage the bar keeps
 * its place and the stages left share the rest of it: it never stalls and then jumps.
 */
function progressStages(
  stages: Array<[name: string, runs: number, resolutionMinutes: number]>,
  days: number,
  onProgress: (done: number, total: number, stage: string) => void,
) {
  const TOTAL = 10_000;
  const stepsOf = (i: number) => Math.ceil((days * 1440) / (stages[i]?.[2] ?? 1));
  const budget = stages.map(([, runs], i) => runs * stepsOf(i));
  const runsIn = stages.map(() => 0);
  let index = 0;
  /** Where the bar stood when the current stage began, and the work left from there. */
  let base = 0;
  let left = budget.reduce((sum, w) => sum + w, 0);
  let doneInStage = 0;
  const shown = () =>
    Math.min(TOTAL - 1, Math.round(base + (left > 0 ? ((TOTAL - base) * doneInStage) / left : 0)));
  return {
    ran: () => {
      runsIn[index] = (runsIn[index] ?? 0) + 1;
      doneInStage = Math.min(budget[index] ?? 0, doneInStage + stepsOf(index));
      onProgress(shown(), TOTAL, stages[index]?.[0] ?? "");
    },
    enter: (stage: string) => {
      const next = stages.findIndex(([name]) => name === stage);
      if (next > index) {
        base = shown();
        index = next;
        doneInStage = 0;
        left = budget.slice(next).reduce((sum, w) => sum + w, 0);
      }
      onProgress(shown(), TOTAL, stage);
    },
    /** Runs counted in a stage so far (a later stage that repeats it can be estimated from it). */
    runsIn: (stage: string) => runsIn[stages.findIndex(([name]) => name === stage)] ?? 0,
    /** A better bound for a stage not yet entered. */
    estimate: (stage: string, runs: number) => {
      const i = stages.findIndex(([name]) => name === stage);
      if (i > index) {
        left += runs * stepsOf(i) - (budget[i] ?? 0);
        budget[i] = runs * stepsOf(i);
      }
    },
    finish: () => onProgress(TOTAL, TOTAL, "done"),
  };
}
