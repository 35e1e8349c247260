import { dirname, resolve } from "node:path";
import { z } from "zod";
import { readYamlFile } from "../config/yaml-file.ts";
import { withMeasuredDemand } from "./measured-demand.ts";

const planDemandSchema = z
  .object({
    users: z.number().int().min(0),
    /** Output tokens a median user generates per minute of their active time. */
    tokens_per_active_minute: z.number().positive(),
    /** Spread of intensity between users (σ of a log-normal); heavy users hit limits first. */
    intensity_sigma: z.number().min(0).max(3).default(0.8),
    /** Share of each model family in this plan's traffic. */
    model_mix: z.record(z.string(), z.number().min(0)),
  })
  .strict();

const apiTierDemandSchema = z
  .object({
    keys: z.number().int().min(0),
    /** Output tokens/s the median key wants at activity 1, before its tier's limits. */
    tokens_per_s_per_key: z.number().positive(),
    /** Spread of wanted rates between keys (σ of a log-normal): the heaviest are limit-bound. */
    intensity_sigma: z.number().min(0).max(4).default(1.2),
    model_mix: z.record(z.string(), z.number().min(0)),
  })
  .strict();

export const scenarioSchema = z
  .object({
    seed: z.number().int().default(1),
    fleet: z.string().min(1),
    policy_file: z.string().min(1),
    /** The policy version whose plans are planned (the one before the deal). */
    policy: z.string().min(1),
    compare: z
      .object({ before: z.iso.datetime({ offset: true }), after: z.iso.datetime({ offset: true }) })
      .strict(),
    days: z.number().int().min(1).max(28).default(7),
    resolution_minutes: z.number().int().min(1).max(60).default(1),
    /**
     * What "sustainable" means: the service each request must get, judged by a queue over the
     * serving slots (queueing.ts) per model family, minute by minute.
     */
    service_levels: z
      .object({
        /** Largest share of requests answered 529 over the simulated period. */
        max_shed_share: z.number().min(0).max(1).default(0.001),
        /** Time to first token that 95% of admitted requests meet in every hour, per family. */
        p95_ttft_s: z.number().positive().default(2),
        /** Longest a request waits for a slot before it is shed. */
        max_queue_s: z.number().positive().default(10),
        /**
         * Per-user speed each family must be served at (tokens/s); by default each model's
         * `interactivity_tokens_per_s`. The slowest GPU kind serving the family is judged.
         */
        min_tokens_per_s_per_user: z.record(z.string(), z.number().positive()).default({}),
      })
      .strict()
      .prefault({}),
    /** The GPU kind margins are counted in ("needs N more GB200-equivalents"). */
    reference_gpu: z.string().min(1).default("gb200"),
    /**
     * An older, coarser test, kept for comparison: the largest share of minutes in which some
     * family's demand exceeds its capacity. When given, it must hold as well.
     */
    target_overload_share: z.number().min(0).max(1).optional(),
    cohorts_per_plan: z.number().int().min(1).max(4096).default(64),
    /** Cohorts of API keys per tier (quantiles of the wanted rate). */
    api_cohorts_per_tier: z.number().int().min(1).max(1024).default(16),
    /**
     * How GPUs are split between model families: the fleet's fixed `allocation`, or re-balanced
     * every hour or day towards the families that needed them in the previous period, within
     * the fleet's `allocation_bounds`.
     */
    allocation: z.enum(["fixed", "hourly", "daily"]).default("hourly"),
    demand: z
      .object({
        time_zone: z.string().min(1),
        /** Share of users active in each local hour of a weekday (24 values). */
        hourly_activity: z.array(z.number().min(0).max(1)).length(24),
        weekend_factor: z.number().min(0).max(2).default(0.6),
        /** How far users' habits are spread around the curve, in hours (a cohort's offset). */
        spread_hours: z.number().min(0).max(12).default(3),
        plans: z.record(z.string(), planDemandSchema),
        /**
         * API traffic outside any tier's limits (committed-use contracts, internal use), output
         * tokens/s per model family at activity 1. API-limit changes do not move it.
         */
        api_tokens_per_s: z.record(z.string(), z.number().min(0)).default({}),
        /** API keys per tier of the policy: they meet their tier's limits (api-demand.ts). */
        api_tiers: z.record(z.string(), apiTierDemandSchema).default({}),
        /**
         * API traffic's share of all output tokens at the baseline the week before the deal
         * (a named input: API volumes are not public). When given, every API figure above is
         * scaled alike until the baseline meets it; absent, the figures stand as given.
         */
        api_token_share: z.number().min(0).lt(1).optional(),
        /**
         * Demand growth per week (0.01 = 1% more every week, compounding), from the `before`
         * instant: calibrations hold there, and every later week has grown from it.
         */
        weekly_growth: z.number().min(-0.5).max(1).default(0),
        /**
         * A measured demand file (`headroom demand export`): its figures take the place of the
         * stated ones where the ledger measured enough (measured-demand.ts).
         */
        from: z.string().min(1).optional(),
        /** With `from`: grow or shrink the measured population (users and keys) for a what-if. */
        users_scale: z.number().positive().default(1),
        /** Which figure came from where, set when `from` is merged (not written by hand). */
        provenance: z.record(z.string(), z.enum(["measured", "stated"])).optional(),
        /** Multiplies all demand (users of every plan and API traffic), after any calibration. */
        scale: z.number().positive().default(1),
        /**
         * `baseline_at_target`: scale demand so that the baseline policy sits exactly at the
         * overload target at the `before` instant — the assumption that the provider ran at
         * capacity (why else a peak-hour rule?). `none`: take the demand figures as given.
         */
        calibrate: z.enum(["none", "baseline_at_target"]).default("none"),
        /**
         * Share of subscribers expected to hit a weekly cap in a week at the baseline (a public
         * fact: "under 5%" when weekly caps were introduced). When given, usage per user is
         * scaled (every plan alike) so the baseline meets it, before any level calibration.
         */
        weekly_cap_share: z.number().gt(0).lt(1).optional(),
        /**
         * How concentrated a subscriber's week is (0 = the same every day; higher = the same
         * week's usage in fewer, busier days, a von Mises profile over the week): more users
         * then fill a 5-hour window without filling the week. Reported as effective active
         * days per week.
         */
        day_concentration: z.number().min(0).max(20).default(0),
        /**
         * Share of subscribers a peak-hour rule newly limits (who hit a 5-hour limit with it and
         * would not without it) — a public fact when the rule was introduced. When given, the
         * day concentration is calibrated to meet it (with `weekly_cap_share` met at each step).
         */
        peak_rule_newly_limited_share: z.number().gt(0).lt(1).optional(),
      })
      .strict()
      .refine(
        (demand) =>
          demand.peak_rule_newly_limited_share === undefined || demand.weekly_cap_share !== undefined,
        {
          message:
            "peak_rule_newly_limited_share needs weekly_cap_share (usage per user is re-calibrated to it)",
          path: ["peak_rule_newly_limited_share"],
        },
      ),
  })
  .strict();

export type Scenario = z.infer<typeof scenarioSchema>;
export type PlanDemand = Scenario["demand"]["plans"][string];

export interface LoadedScenario {
  scenario: Scenario;
  fleetPath: string;
  policyPath: string;
}

export function readScenarioFile(file: string): LoadedScenario {
  const scenario = readYamlFile(file, (raw) => {
    const merged = withMeasuredDemand(raw, file);
    return z.preprocess(() => merged, scenarioSchema);
  });
  const base = dirname(resolve(file));
  return {
    scenario,
    fleetPath: resolve(base, scenario.fleet),
    policyPath: resolve(base, scenario.policy_file),
  };
}
