/**
 * Simulates a period of demand against the capacity timeline at a fixed resolution. Each plan's
 * users are cohorts (cohorts.ts) with their own 5-hour window and weekly usage; what they may
 * send is capped by their plan's budgets (times a multiplier under study), and what they send is
 * compared with the tokens/s the fleet provides per model family, minute by minute.
 */
import type { Fleet } from "../capacity/fleet-schema.ts";
import type { Gpu } from "../capacity/gpu-catalog.ts";
import { fullFleetTokensPerSecond } from "../capacity/timeline.ts";
import { isPeak, localWeekdayAndHour } from "../plans/peak.ts";
import { classFor } from "../plans/plan-limits.ts";
import type { Policy, SubscriptionPlan } from "../plans/schema.ts";
import { rebalance, rebalancePeriodSteps } from "./allocation.ts";
import { type ApiTier, type ApiTraffic, apiTraffic, prepareApiTiers } from "./api-demand.ts";
import { type Cohort, makeCohorts } from "./cohorts.ts";
import type { Scenario } from "./scenario.ts";

const MINUTE = 60_000;
const SESSION_MS = 5 * 60 * MINUTE;
/** Weekly caps roll 7 days from a user's first use after the previous week ended, as enforced. */
const WEEK_MS = 7 * 24 * 60 * MINUTE;

export interface SimulationOptions {
  startMs: number;
  /** Multiplier on every subscription plan's 5-hour budget. */
  sessionMultiplier: number;
  /** Per-plan multipliers that take the place of `sessionMultiplier` for those plans. */
  planMultipliers?: Record<string, number>;
  /** Drop the plans' peak-hour rules. */
  liftPeak: boolean;
  /** Multiplier on every API tier's limits: keys get more only where their limits bound. */
  apiMultiplier: number;
  /**
   * Multiplier on all demand: as many more users of every plan (each with the same limits) and
   * as much more API traffic. 1 = the scenario's demand as given (after calibration).
   */
  demandScale?: number;
  /** Multiplier on what each user wants to send (usage per user, not users). Default 1. */
  intensityScale?: number;
  /** Multiplier on every weekly cap, overall and per family (a policy that moves them). Default 1. */
  weeklyMultiplier?: number;
}

/** The policy as it is (no multiplier, peak rule kept) for the week from `startMs`. */
export function baselineOptions(
  startMs: number,
  scales: { demandScale?: number; intensityScale?: number } = {},
): SimulationOptions {
  return { startMs, sessionMultiplier: 1, liftPeak: false, apiMultiplier: 1, ...scales };
}

export interface SimulationResult {
  steps: number;
  /** Per step: total demand served and total capacity, output tokens/s (for charts). */
  demand: Float64Array;
  capacity: Float64Array;
  /** The family with the highest peak utilisation, and its demand and capacity per step. */
  tightest: { family: string; demand: Float64Array; capacity: Float64Array };
  meanUtilisation: number;
  peakUtilisation: number;
  /** Share of steps in which some family's demand exceeded its capacity. */
  overloadShare: number;
  /** The same per model family. */
  overloadShareByFamily: Record<string, number>;
  /** Share of demand above capacity: what would be answered 529. */
  shedShare: number;
  /** Mean share of the fleet each family had over the period (the split used). */
  meanShares: Record<string, number>;
  /** Share of what API keys wanted that their tier's limits cut (0 without API tiers). */
  apiLimitedShare: number;
  /** Share of subscription users who hit their 5-hour limit at least once, and their weekly one. */
  sessionLimitedShare: number;
  weeklyLimitedShare: number;
}

/** What the simulation needs that does not change between runs of a scenario (precomputed once). */
export interface Prepared {
  scenario: Scenario;
  fleet: Fleet;
  catalog: Map<string, Gpu>;
  policy: Policy;
  families: string[];
  plans: Array<{
    name: string;
    plan: SubscriptionPlan;
    /** Output tokens per active minute of the plan's median user. */
    rate: number;
    usdPerToken: number;
    mix: number[];
    /** Share of the plan's usage cost that falls on each family (for per-family weekly caps). */
    costShare: number[];
    /** Weekly budget per family in the plan, Infinity where none. */
    familyWeekly: number[];
    cohorts: Cohort[];
  }>;
  /**
   * Full-fleet tokens/s per family (every GPU on that family) by 10-minute bucket, for this
   * fleet only: the cache lives and dies with the prepared scenario, so two fleets can never
   * share an entry.
   */
  capacityByBucket: Map<number, number[]>;
  /** API keys per tier, with their limits. */
  apiTiers: ApiTier[];
  /** API traffic per (week start, API multiplier), computed once per prepared scenario. */
  apiByRun: Map<string, ApiTraffic>;
  /** The fleet's fixed split, its total, and the bounds a re-balanced split keeps. */
  fixedShares: number[];
  totalShare: number;
  bounds: Array<[number, number]>;
}

export function prepare(
  scenario: Scenario,
  fleet: Fleet,
  catalog: Map<string, Gpu>,
  policy: Policy,
): Prepared {
  const families = fleet.models.map((model) => model.family);
  const ratio = fleet.workload.input_tokens / fleet.workload.output_tokens;
  const plans: Prepared["plans"] = [];
  let seed = scenario.seed;
  for (const [name, demand] of Object.entries(scenario.demand.plans)) {
    const plan = policy.plans[name];
    if (plan?.kind !== "subscription") {
      throw new Error(`plan ${name} is not a subscription plan of policy ${policy.version}`);
    }
    const totalMix = Object.values(demand.model_mix).reduce((sum, share) => sum + share, 0) || 1;
    const mix = families.map((family) => (demand.model_mix[family] ?? 0) / totalMix);
    // Dollars of API-priced usage per output token, its prompt counted at the cache-read price
    // (coding agents resend mostly cached context).
    const familyUsd = families.map((family, i) => {
      const [, modelClass] = classFor(policy, family);
      return (mix[i] ?? 0) * ((modelClass.output + ratio * modelClass.cache_read) / 1e6);
    });
    const usdPerToken = familyUsd.reduce((sum, usd) => sum + usd, 0);
    const costShare = familyUsd.map((usd) => (usdPerToken > 0 ? usd / usdPerToken : 0));
    const familyWeekly = families.map(
      (family) => plan.weekly_family_budgets_usd[family] ?? Number.POSITIVE_INFINITY,
    );
    seed += 7919;
    const cohorts = makeCohorts(
      demand.users,
      scenario.cohorts_per_plan,
      demand.intensity_sigma,
      scenario.demand.spread_hours,
      seed,
    );
    plans.push({
      name,
      plan,
      rate: demand.tokens_per_active_minute,
      usdPerToken,
      mix,
      costShare,
      familyWeekly,
      cohorts,
    });
  }
  const fixedShares = families.map((family) => fleet.allocation[family] ?? 0);
  const apiTiers = prepareApiTiers(scenario, fleet, policy, families, seed);
  return {
    scenario,
    fleet,
    catalog,
    policy,
    families,
    plans,
    capacityByBucket: new Map(),
    apiTiers,
    apiByRun: new Map(),
    fixedShares,
    totalShare: fixedShares.reduce((sum, share) => sum + share, 0),
    bounds: families.map((family) => fleet.allocation_bounds[family] ?? [0, 1]),
  };
}

/** Activity (0–1) of a local minute: the hourly curve, lower at weekends. */
function activityTable(
  prepared: Prepared,
  startMs: number,
  steps: number,
  resolutionMs: number,
  marginSteps: number,
): Float64Array {
  const { demand } = prepared.scenario;
  const table = new Float64Array(steps + 2 * marginSteps);
  for (let i = 0; i < table.length; i++) {
    const at = startMs + (i - marginSteps) * resolutionMs;
    const { weekday, hour } = localWeekdayAndHour(at, demand.time_zone);
    table[i] = (demand.hourly_activity[hour] ?? 0) * (weekday >= 6 ? demand.weekend_factor : 1);
  }
  return table;
}

/** Full-fleet tokens/s per family, sampled every 10 simulated minutes (capacity moves slowly). */
function fullCapacity(prepared: Prepared, atMs: number): number[] {
  const bucket = Math.floor(atMs / (10 * MINUTE)) * 10 * MINUTE;
  let cached = prepared.capacityByBucket.get(bucket);
  if (!cached) {
    cached = fullFleetTokensPerSecond(prepared.fleet, prepared.catalog, bucket);
    prepared.capacityByBucket.set(bucket, cached);
  }
  return cached;
}

export function simulate(prepared: Prepared, options: SimulationOptions): SimulationResult {
  const { scenario, families, plans } = prepared;
  const resolutionMs = scenario.resolution_minutes * MINUTE;
  const steps = Math.round((scenario.days * 24 * 60) / scenario.resolution_minutes);
  const margin = Math.ceil((scenario.demand.spread_hours * 60) / scenario.resolution_minutes) + 1;
  const activity = activityTable(prepared, options.startMs, steps, resolutionMs, margin);
  const nFamilies = families.length;
  const demandPerFamily = new Float64Array(nFamilies);
  const demandTotal = new Float64Array(steps);
  const capacityTotal = new Float64Array(steps);
  const demandByFamily = families.map(() => new Float64Array(steps));
  const capacityByFamily = families.map(() => new Float64Array(steps));
  const peakByFamily = new Float64Array(nFamilies);
  const demandScale = options.demandScale ?? 1;
  const intensityScale = options.intensityScale ?? 1;
  // Traffic outside tier limits follows the demand, not the API limits.
  const apiRates = families.map((family) => (scenario.demand.api_tokens_per_s[family] ?? 0) * demandScale);
  const api = apiTraffic(prepared.apiTiers, prepared.apiByRun, {
    startMs: options.startMs,
    apiMultiplier: options.apiMultiplier,
    steps,
    families: nFamilies,
    resolutionMinutes: scenario.resolution_minutes,
    activityAt: (step, offsetMinutes) =>
      activity[step + margin + Math.round(offsetMinutes / scenario.resolution_minutes)] ?? 0,
  });

  // Per-cohort state, flat: window starts, usage ($) in the 5-hour window, the week and per
  // family in the week, hit flags.
  const cohortCount = plans.reduce((sum, plan) => sum + plan.cohorts.length, 0);
  const windowStart = new Float64Array(cohortCount).fill(Number.NEGATIVE_INFINITY);
  const windowUsed = new Float64Array(cohortCount);
  const weekStart = new Float64Array(cohortCount).fill(Number.NEGATIVE_INFINITY);
  const weekUsed = new Float64Array(cohortCount);
  const familyWeekUsed = new Float64Array(cohortCount * nFamilies);
  const hitSession = new Uint8Array(cohortCount);
  const hitWeek = new Uint8Array(cohortCount);

  // The split between families: fixed, or re-balanced each period from the previous period's
  // peak need (demand over full-fleet capacity).
  const period = rebalancePeriodSteps(scenario.allocation, scenario.resolution_minutes);
  let shares = [...prepared.fixedShares];
  const peakNeed = new Array<number>(nFamilies).fill(0);
  const shareSum = new Float64Array(nFamilies);

  let overloadedSteps = 0;
  const overloadedByFamily = new Float64Array(nFamilies);
  let excessSum = 0;
  let demandSum = 0;
  let utilisationSum = 0;
  let peakUtilisation = 0;
  for (let step = 0; step < steps; step++) {
    const at = options.startMs + step * resolutionMs;
    if (step > 0 && step % period === 0) {
      shares = rebalance(peakNeed, prepared.totalShare, prepared.bounds, prepared.fixedShares);
      peakNeed.fill(0);
    }
    demandPerFamily.fill(0);
    let c = 0;
    for (const { name, plan, rate, usdPerToken, mix, costShare, familyWeekly, cohorts } of plans) {
      const peak = !options.liftPeak && isPeak(plan.peak, at);
      const usageFactor = peak && plan.peak?.mode === "multiplier" ? plan.peak.factor : 1;
      const budgetFactor = peak && plan.peak?.mode === "shrink" ? plan.peak.factor : 1;
      const multiplier = options.planMultipliers?.[name] ?? options.sessionMultiplier;
      const session = plan.session_budget_usd * multiplier * budgetFactor;
      const weeklyMultiplier = options.weeklyMultiplier ?? 1;
      const weekly = plan.weekly_budget_usd * weeklyMultiplier;
      for (const cohort of cohorts) {
        const wanted =
          (activity[step + margin + Math.round(cohort.offsetMinutes / scenario.resolution_minutes)] ?? 0) *
          cohort.intensity;
        if (wanted > 0) {
          if (at >= (windowStart[c] as number) + SESSION_MS) {
            windowStart[c] = at;
            windowUsed[c] = 0;
          }
          if (at >= (weekStart[c] as number) + WEEK_MS) {
            weekStart[c] = at;
            weekUsed[c] = 0;
            familyWeekUsed.fill(0, c * nFamilies, (c + 1) * nFamilies);
          }
          const perUserTokens = wanted * scenario.resolution_minutes * rate * intensityScale;
          const cost = perUserTokens * usdPerToken * usageFactor;
          const sessionRoom = session - (windowUsed[c] as number);
          let weekRoom = weekly - (weekUsed[c] as number);
          // A per-family cap binds when that family's share of the cost does not fit: the
          // user's traffic is cut in proportion (they cannot shift it to another model).
          for (let f = 0; f < nFamilies; f++) {
            const share = costShare[f] as number;
            const cap = (familyWeekly[f] as number) * weeklyMultiplier;
            if (share > 0 && cap !== Number.POSITIVE_INFINITY) {
              weekRoom = Math.min(weekRoom, (cap - (familyWeekUsed[c * nFamilies + f] as number)) / share);
            }
          }
          const room = Math.min(sessionRoom, weekRoom);
          const fraction = cost > 0 ? Math.max(0, Math.min(1, room / cost)) : 1;
          if (fraction < 1) {
            if (sessionRoom <= weekRoom) hitSession[c] = 1;
            else hitWeek[c] = 1;
          }
          const charged = cost * fraction;
          windowUsed[c] = (windowUsed[c] as number) + charged;
          weekUsed[c] = (weekUsed[c] as number) + charged;
          for (let f = 0; f < nFamilies; f++) {
            const i = c * nFamilies + f;
            familyWeekUsed[i] = (familyWeekUsed[i] as number) + charged * (costShare[f] as number);
          }
          const servedTps =
            (perUserTokens * fraction * cohort.users * demandScale) / (scenario.resolution_minutes * 60);
          for (let f = 0; f < nFamilies; f++)
            demandPerFamily[f] = (demandPerFamily[f] as number) + servedTps * (mix[f] as number);
        }
        c++;
      }
    }
    const full = fullCapacity(prepared, at);
    const apiActivity = activity[step + margin] ?? 0;

    let overloaded = false;
    let stepDemand = 0;
    let stepCapacity = 0;
    for (let f = 0; f < nFamilies; f++) {
      const total =
        (demandPerFamily[f] as number) +
        (apiRates[f] as number) * apiActivity +
        (api.served[step * nFamilies + f] as number) * demandScale;
      const fullF = full[f] as number;
      const available = (shares[f] as number) * fullF;
      if (fullF > 0) peakNeed[f] = Math.max(peakNeed[f] as number, total / fullF);
      shareSum[f] = (shareSum[f] as number) + (shares[f] as number);
      if (total > available) {
        overloaded = true;
        overloadedByFamily[f] = (overloadedByFamily[f] as number) + 1;
        excessSum += total - available;
      }
      stepDemand += total;
      stepCapacity += available;
      (demandByFamily[f] as Float64Array)[step] = total;
      (capacityByFamily[f] as Float64Array)[step] = available;
      if (available > 0) peakByFamily[f] = Math.max(peakByFamily[f] as number, total / available);
    }
    demandSum += stepDemand;
    demandTotal[step] = stepDemand;
    capacityTotal[step] = stepCapacity;
    const utilisation = stepCapacity > 0 ? stepDemand / stepCapacity : 0;
    utilisationSum += utilisation;
    peakUtilisation = Math.max(peakUtilisation, utilisation);
    if (overloaded) overloadedSteps++;
  }
  let usersTotal = 0;
  let usersSession = 0;
  let usersWeek = 0;
  let c = 0;
  for (const { cohorts } of plans) {
    for (const cohort of cohorts) {
      usersTotal += cohort.users;
      if (hitSession[c]) usersSession += cohort.users;
      if (hitWeek[c]) usersWeek += cohort.users;
      c++;
    }
  }
  let tight = 0;
  for (let f = 1; f < nFamilies; f++)
    if ((peakByFamily[f] as number) > (peakByFamily[tight] as number)) tight = f;
  return {
    steps,
    demand: demandTotal,
    capacity: capacityTotal,
    tightest: {
      family: families[tight] ?? "",
      demand: demandByFamily[tight] ?? new Float64Array(steps),
      capacity: capacityByFamily[tight] ?? new Float64Array(steps),
    },
    meanUtilisation: utilisationSum / steps,
    peakUtilisation,
    overloadShare: overloadedSteps / steps,
    overloadShareByFamily: Object.fromEntries(
      families.map((family, f) => [family, (overloadedByFamily[f] as number) / steps]),
    ),
    shedShare: demandSum > 0 ? excessSum / demandSum : 0,
    apiLimitedShare: api.limitedShare,
    meanShares: Object.fromEntries(families.map((family, f) => [family, (shareSum[f] as number) / steps])),
    sessionLimitedShare: usersTotal > 0 ? usersSession / usersTotal : 0,
    weeklyLimitedShare: usersTotal > 0 ? usersWeek / usersTotal : 0,
  };
}
