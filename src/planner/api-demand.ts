/**
 * API traffic that meets its tier's limits. Each tier's keys are cohorts at the quantiles of a
 * log-normal wanted rate; a key is served what it wants up to what its tier's limits let
 * through per model class (output tokens/min; input tokens/min, which count uncached prompt
 * tokens; requests/min), times the API-limit multiplier under study. Raising limits therefore
 * raises served traffic only for keys that were limit-bound.
 */
import type { Fleet } from "../capacity/fleet-schema.ts";
import { classFor } from "../plans/plan-limits.ts";
import type { Policy } from "../plans/schema.ts";
import { type Cohort, makeCohorts, seedFor } from "./cohorts.ts";
import type { Scenario } from "./scenario.ts";

export interface ApiTier {
  name: string;
  /** Share of each family in a key's traffic. */
  mix: number[];
  /** Output tokens/s a key of intensity 1 wants at activity 1. */
  perKey: number;
  /** Output tokens/s one key may be served per family at multiplier 1 (its limits). */
  limitPerKey: number[];
  cohorts: Cohort[];
}

/** Output tokens/s a tier's limits let one key through for a model class. */
export function keyLimitTokensPerSecond(
  rates: { rpm: number; itpm: number; otpm: number },
  workload: Fleet["workload"],
): number {
  // Input tokens/min count prompt tokens that are not cache reads.
  const uncachedPerOutput = (workload.input_tokens * (1 - workload.cache_hit_share)) / workload.output_tokens;
  const byOutput = rates.otpm / 60;
  const byInput = uncachedPerOutput > 0 ? rates.itpm / 60 / uncachedPerOutput : Number.POSITIVE_INFINITY;
  const byRequests = (rates.rpm / 60) * workload.output_tokens;
  return Math.min(byOutput, byInput, byRequests);
}

export function prepareApiTiers(
  scenario: Scenario,
  fleet: Fleet,
  policy: Policy,
  families: readonly string[],
): ApiTier[] {
  const tiers: ApiTier[] = [];
  for (const [name, demand] of Object.entries(scenario.demand.api_tiers)) {
    const plan = policy.plans[name];
    if (plan?.kind !== "api") throw new Error(`plan ${name} is not an API plan of policy ${policy.version}`);
    const totalMix = Object.values(demand.model_mix).reduce((sum, share) => sum + share, 0) || 1;
    const limitPerKey = families.map((family) => {
      const [className] = classFor(policy, family);
      const rates = plan.rate_limits[className] ?? plan.rate_limits.default;
      return rates ? keyLimitTokensPerSecond(rates, fleet.workload) : 0;
    });
    tiers.push({
      name,
      mix: families.map((family) => (demand.model_mix[family] ?? 0) / totalMix),
      perKey: demand.tokens_per_s_per_key,
      limitPerKey,
      cohorts: makeCohorts(
        demand.keys,
        scenario.api_cohorts_per_tier,
        demand.intensity_sigma,
        scenario.demand.spread_hours,
        seedFor(scenario.seed, `api:${name}`),
      ),
    });
  }
  return tiers;
}

/**
 * Adds the output tokens/s API keys are served at one step to `out` (per family), limits times
 * `apiMultiplier`. `activityAt(offsetMinutes)` is the activity of the step for a cohort's habit.
 * Returns the share of wanted API traffic the limits cut (for reports).
 */
export function addApiServed(
  tiers: readonly ApiTier[],
  activityAt: (offsetMinutes: number) => number,
  apiMultiplier: number,
  out: Float64Array,
): { wanted: number; served: number } {
  let wantedTotal = 0;
  let servedTotal = 0;
  for (const tier of tiers) {
    for (const cohort of tier.cohorts) {
      const wanted = activityAt(cohort.offsetMinutes) * cohort.intensity * tier.perKey;
      if (wanted <= 0) continue;
      for (let f = 0; f < out.length; f++) {
        const share = tier.mix[f] as number;
        if (share <= 0) continue;
        const served = Math.min(wanted * share, (tier.limitPerKey[f] as number) * apiMultiplier);
        out[f] = (out[f] as number) + served * cohort.users;
        wantedTotal += wanted * share * cohort.users;
        servedTotal += served * cohort.users;
      }
    }
  }
  return { wanted: wantedTotal, served: servedTotal };
}

export interface ApiTraffic {
  /** Output tokens/s served to API keys, per step and family (steps × families), unscaled. */
  served: Float64Array;
  /** Share of what keys wanted that their limits cut. */
  limitedShare: number;
}

export interface ApiRun {
  startMs: number;
  apiMultiplier: number;
  steps: number;
  families: number;
  resolutionMinutes: number;
  /** Activity at a step for a cohort's habit offset. */
  activityAt: (step: number, offsetMinutes: number) => number;
}

/**
 * What API keys are served at each step of a run. It depends on the week, the resolution and
 * the API multiplier only (not on subscription limits), so runs that vary the rest share it
 * through `cache`, which belongs to the prepared scenario.
 */
export function apiTraffic(
  tiers: readonly ApiTier[],
  cache: Map<string, ApiTraffic>,
  run: ApiRun,
): ApiTraffic {
  const key = `${run.startMs}|${run.apiMultiplier}|${run.steps}|${run.resolutionMinutes}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const served = new Float64Array(run.steps * run.families);
  const step = new Float64Array(run.families);
  let wanted = 0;
  let got = 0;
  for (let i = 0; i < run.steps; i++) {
    step.fill(0);
    const totals = addApiServed(tiers, (offset) => run.activityAt(i, offset), run.apiMultiplier, step);
    wanted += totals.wanted;
    got += totals.served;
    served.set(step, i * run.families);
  }
  const traffic = { served, limitedShare: wanted > 0 ? 1 - got / wanted : 0 };
  cache.set(key, traffic);
  return traffic;
}

/**
 * The scenario with API demand times `factor`: as many more keys in every tier (each wanting
 * what it did, so the share of keys their limits bind is kept) and as much more traffic outside
 * the tiers. How API demand is moved as one input, for `api_token_share` and sensitivity.
 */
export function withApiDemand(scenario: Scenario, factor: number): Scenario {
  const { demand } = scenario;
  return {
    ...scenario,
    demand: {
      ...demand,
      api_tokens_per_s: Object.fromEntries(
        Object.entries(demand.api_tokens_per_s).map(([family, rate]) => [family, rate * factor]),
      ),
      api_tiers: Object.fromEntries(
        Object.entries(demand.api_tiers).map(([tier, figures]) => [
          tier,
          { ...figures, keys: Math.round(figures.keys * factor) },
        ]),
      ),
    },
  };
}
