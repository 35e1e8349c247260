/**
 * `headroom plan --json`: one JSON object others build on, described by a zod schema so the
 * shape is checked where it is produced and can be checked where it is read. Demand scales are
 * absolute (multiples of the scenario's figures, like `demand_scale`); margins are relative to
 * the demand used (1 = exactly at the target).
 */
import { z } from "zod";
import { effectiveActiveDays } from "./cohorts.ts";
import { capacityMargin, type Multiplier, type PlanResult, type SideResult } from "./plan.ts";
import type { SimulationResult } from "./simulate.ts";

const multiplierSchema = z.object({ value: z.number().min(0), at_search_limit: z.boolean() }).strict();

const serviceSchema = z
  .object({
    shed_share: z.number().min(0).max(1),
    worst_hour: z
      .object({
        family: z.string(),
        at: z.iso.datetime(),
        late_share: z.number().min(0).max(1),
        p95_ttft_s: z.number().min(0),
      })
      .strict(),
    tokens_per_s_per_user: z.record(
      z.string(),
      z.object({ slowest: z.number().min(0), required: z.number().positive().nullable() }).strict(),
    ),
    missed: z.array(z.string()),
  })
  .strict();

const sideSchema = z
  .object({
    at: z.iso.datetime(),
    gpus_online: z.number().int().min(0),
    sustainable_5h_multiplier: multiplierSchema,
    sustainable_5h_multiplier_by_plan: z.record(z.string(), multiplierSchema),
    sustainable_api_multiplier: multiplierSchema,
    /** Weekly caps (overall and per family) with the 5-hour limits doubled and the peak lifted. */
    sustainable_weekly_multiplier: multiplierSchema,
    /** Largest absolute demand scale at which each policy stays under the target. */
    break_even_demand: z
      .object({ baseline: z.number().min(0), doubled_peak_lifted: z.number().min(0) })
      .strict(),
    /** The break-even searches hit their ceiling: the true value is at least the one given. */
    break_even_at_search_limit: z
      .object({ baseline: z.boolean(), doubled_peak_lifted: z.boolean() })
      .strict(),
    /** break_even_demand ÷ demand_scale: how far each verdict is from flipping. */
    margin: z.object({ baseline: z.number().min(0), doubled_peak_lifted: z.number().min(0) }).strict(),
    verdicts: z.object({ double_5h_lift_peak: z.boolean(), raise_api: z.boolean() }).strict(),
    utilisation: z.object({ mean: z.number().min(0), peak: z.number().min(0) }).strict(),
    overload_share: z
      .object({ baseline: z.number().min(0).max(1), doubled_peak_lifted: z.number().min(0).max(1) })
      .strict(),
    shed_share: z.number().min(0).max(1),
    /** The online fleet in GPUs of the scenario's reference kind. */
    gpu_equivalents: z.number().min(0),
    /** The doubling margin in reference GPUs: spare (positive) or needed (negative). */
    capacity_margin_gpus: z.number().nullable(),
    /** Service against the scenario's levels, at the baseline and with 5-hour ×2, peak lifted. */
    service: z
      .object({
        baseline: serviceSchema,
        doubled_peak_lifted: serviceSchema,
      })
      .strict(),
    /** Share of what API keys wanted that their tier's limits cut, at the baseline. */
    api_limited_share: z.number().min(0).max(1),
    users_limited: z
      .object({
        five_hour: z.number().min(0).max(1),
        weekly: z.number().min(0).max(1),
        five_hour_doubled: z.number().min(0).max(1),
        weekly_doubled: z.number().min(0).max(1),
      })
      .strict(),
    allocation: z
      .object({
        mode: z.enum(["fixed", "hourly", "daily"]),
        /** Mean share of the fleet per family over the simulated week (the fixed split if fixed). */
        shares: z.record(z.string(), z.number().min(0).max(1)),
      })
      .strict(),
  })
  .strict();

const marginsSchema = z.object({ before: z.number().min(0), after: z.number().min(0) }).strict();

export const planJsonSchema = z
  .object({
    scenario_seed: z.number().int(),
    service_levels: z
      .object({
        max_shed_share: z.number().min(0).max(1),
        p95_ttft_s: z.number().positive(),
        max_queue_s: z.number().positive(),
        min_tokens_per_s_per_user: z.record(z.string(), z.number().positive()),
      })
      .strict(),
    /** The older minutes-over-capacity test, when the scenario still states it. */
    target_overload_share: z.number().min(0).max(1).nullable(),
    reference_gpu: z.string(),
    /** What the demand's level rests on: calibrated to the service levels, or as stated. */
    baseline_assumption: z.string(),
    /** With a measured demand file: which figure came from the ledger and which was stated. */
    demand_provenance: z.record(z.string(), z.enum(["measured", "stated"])).nullable(),
    demand_scale: z.number().positive(),
    calibrated_scale: z.number().positive(),
    /** Usage per user as a multiple of the scenario's figures (from `weekly_cap_share`). */
    intensity_scale: z.number().positive(),
    calibration: z.enum(["none", "baseline_at_target"]),
    /** How subscribers' weeks are spread over their days (given, or calibrated). */
    demand_shape: z
      .object({
        day_concentration: z.number().min(0),
        effective_active_days: z.number().positive().max(7),
        calibrated: z.boolean(),
        /** Subscribers 5-hour-limited with the peak rule and not without, before the deal. */
        peak_rule_newly_limited_share: z.number().min(-1).max(1),
      })
      .strict(),
    before: sideSchema,
    after: sideSchema,
    /** The doubling verdict's margin at both instants with each input moved alone. */
    sensitivity: z
      .object({
        resolution_minutes: z.number().int().positive(),
        base: marginsSchema,
        rows: z.array(
          z
            .object({
              factor: z.string(),
              low_label: z.string(),
              high_label: z.string(),
              /** Null when the variant's fact cannot be calibrated. */
              low: marginsSchema.nullable(),
              high: marginsSchema.nullable(),
            })
            .strict(),
        ),
      })
      .strict(),
  })
  .strict();

export type PlanJson = z.infer<typeof planJsonSchema>;

const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);

function serviceJson(run: SimulationResult) {
  const { worstHour, speed, missed } = run.service;
  return {
    shed_share: run.shedShare,
    worst_hour: {
      family: worstHour.family,
      at: new Date(worstHour.startMs).toISOString(),
      late_share: Math.min(1, worstHour.lateShare),
      p95_ttft_s: worstHour.p95TtftS,
    },
    tokens_per_s_per_user: Object.fromEntries(
      Object.entries(speed).map(([family, s]) => [
        family,
        { slowest: s.tokensPerSPerUser, required: s.required },
      ]),
    ),
    missed,
  };
}

const multiplier = (m: Multiplier) => ({ value: m.value, at_search_limit: m.atSearchLimit });

function sideJson(result: PlanResult, side: SideResult, index: 0 | 1) {
  const { breakEvenDemand } = side;
  return {
    at: new Date(side.startMs).toISOString(),
    gpus_online: side.gpusOnline,
    sustainable_5h_multiplier: multiplier(side.maxSessionMultiplier),
    sustainable_5h_multiplier_by_plan: Object.fromEntries(
      Object.entries(side.maxSessionMultiplierByPlan).map(([name, m]) => [name, multiplier(m)]),
    ),
    sustainable_api_multiplier: multiplier(side.maxApiMultiplier),
    sustainable_weekly_multiplier: multiplier(side.maxWeeklyMultiplier),
    break_even_demand: {
      baseline: breakEvenDemand.baseline.value * result.demandScale,
      doubled_peak_lifted: breakEvenDemand.doubledPeakLifted.value * result.demandScale,
    },
    break_even_at_search_limit: {
      baseline: breakEvenDemand.baseline.atSearchLimit,
      doubled_peak_lifted: breakEvenDemand.doubledPeakLifted.atSearchLimit,
    },
    margin: {
      baseline: breakEvenDemand.baseline.value,
      doubled_peak_lifted: breakEvenDemand.doubledPeakLifted.value,
    },
    verdicts: {
      double_5h_lift_peak: result.conclusions.doubleSessionAndLiftPeak[index],
      raise_api: result.conclusions.raiseApi[index],
    },
    utilisation: { mean: side.baseline.meanUtilisation, peak: side.baseline.peakUtilisation },
    overload_share: {
      baseline: side.baseline.overloadShare,
      doubled_peak_lifted: side.doubledWithoutPeak.overloadShare,
    },
    shed_share: side.baseline.shedShare,
    gpu_equivalents: side.gpuEquivalents,
    capacity_margin_gpus: finiteOrNull(capacityMargin(side, breakEvenDemand.doubledPeakLifted.value)),
    service: {
      baseline: serviceJson(side.baseline),
      doubled_peak_lifted: serviceJson(side.doubledWithoutPeak),
    },
    api_limited_share: side.baseline.apiLimitedShare,
    users_limited: {
      five_hour: side.baseline.sessionLimitedShare,
      weekly: side.baseline.weeklyLimitedShare,
      five_hour_doubled: side.doubledWithoutPeak.sessionLimitedShare,
      weekly_doubled: side.doubledWithoutPeak.weeklyLimitedShare,
    },
    allocation: { mode: result.scenario.allocation, shares: side.baseline.meanShares },
  };
}

export function planJson(result: PlanResult): PlanJson {
  const { scenario } = result;
  return planJsonSchema.parse({
    scenario_seed: scenario.seed,
    service_levels: scenario.service_levels,
    target_overload_share: scenario.target_overload_share ?? null,
    reference_gpu: scenario.reference_gpu,
    demand_provenance: scenario.demand.provenance ?? null,
    baseline_assumption:
      scenario.demand.calibrate === "baseline_at_target"
        ? "baseline_at_target: the demand is scaled so the baseline policy sits exactly at the service levels the week before the deal"
        : "as stated: the scenario's demand figures times demand.scale",
    demand_scale: result.demandScale,
    calibrated_scale: result.calibratedScale,
    intensity_scale: result.intensityScale,
    calibration: scenario.demand.calibrate,
    demand_shape: {
      day_concentration: result.dayConcentration,
      effective_active_days: effectiveActiveDays(result.dayConcentration),
      calibrated: result.dayConcentrationCalibrated,
      peak_rule_newly_limited_share: result.peakRuleNewlyLimited,
    },
    before: sideJson(result, result.before, 0),
    after: sideJson(result, result.after, 1),
    sensitivity: {
      resolution_minutes: result.sensitivity.resolutionMinutes,
      base: result.sensitivity.base,
      rows: result.sensitivity.rows.map((row) => ({
        factor: row.factor,
        low_label: row.lowLabel,
        high_label: row.highLabel,
        low: row.low,
        high: row.high,
      })),
    },
  });
}
