/**
 * Simulates a period of demand against the capacity timeline at a fixed resolution. Each plan's
 * users are cohorts (cohorts.ts) with their own 5-hour window and weekly usage; what they may
 * send is capped by their plan's budgets (times a multiplier under study), and what they send is
 * compared with the tokens/s the fleet provides per model family, minute by minute.
 */
import type { Fleet } from "../capacity/fleet-schema.ts";
import type { Gpu } from "../capacity/gpu-catalog.ts";
import { type FamilyServing, fullFleetServing } from "../capacity/timeline.ts";
import { isPeakHour, localWeekdayAndHour } from "../plans/peak.ts";
import { classFor } from "../plans/plan-limits.ts";
import { type Policy, peakUsageFactor, type SubscriptionPlan } from "../plans/schema.ts";
import { rebalancePeriodSteps, scheduleShares } from "./allocation.ts";
import { type ApiTier, type ApiTraffic, apiTraffic, prepareApiTiers } from "./api-demand.ts";
import { bandShareAtLimit, type Cohort, dayWeight, makeCohorts, seedFor } from "./cohorts.ts";
import { type Queue, queueOf } from "./queueing.ts";
import type { Scenario } from "./scenario.ts";

const MINUTE = 60_000;
const SESSION_MS = 5 * 60 * MINUTE;
/** Weekly caps roll 7 days from a user's first use after the previous week ended, as enforced. */
const DAY_MS = 24 * 60 * MINUTE;
const WEEK_MS = 7 * DAY_MS;

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
  /** How concentrated each subscriber's week is (takes the place of the scenario's; calibration). */
  dayConcentration?: number;
}

/** How much demand has grown by `atMs` since the scenario's `before` instant (compounding weekly). */
export function growthAt(scenario: Scenario, atMs: number): number {
  const growth = scenario.demand.weekly_growth;
  if (growth === 0) return 1;
  return (1 + growth) ** ((atMs - Date.parse(scenario.compare.before)) / WEEK_MS);
}

/** The policy as it is (no multiplier, peak rule kept) for the week from `startMs`. */
export function baselineOptions(
  startMs: number,
  scales: { demandScale?: number; intensityScale?: number; dayConcentration?: number } = {},
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
  /** Share of requests shed (answered 529): the queue's overflow, over the whole period. */
  shedShare: number;
  /** The service each family got, against the scenario's service levels. */
  service: ServiceResult;
  /** Mean share of the fleet each family had over the period (the split used). */
  meanShares: Record<string, number>;
  /** Share of what API keys wanted that their tier's limits cut (0 without API tiers). */
  apiLimitedShare: number;
  /** API traffic's share of all output tokens wanted of the fleet (after tier limits). */
  apiShare: number;
  /** Share of subscription users who hit their 5-hour limit at least once, and their weekly one. */
  sessionLimitedShare: number;
  weeklyLimitedShare: number;
}

export interface ServiceResult {
  /** The family-hour with the largest share of admitted requests over the TTFT bound. */
  worstHour: { family: string; startMs: number; lateShare: number; p95TtftS: number };
  /** Per family: the slowest per-user speed a GPU kind serving it delivers, and the level asked. */
  speed: Record<string, { tokensPerSPerUser: number; required: number | null }>;
  /** The levels missed (empty when all are met). */
  missed: string[];
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
    /** The families whose weekly budget can bind (a cap, and a share of the plan's cost). */
    capped: number[];
    cohorts: Cohort[];
  }>;
  /**
   * What the full fleet serves each family with (every GPU on that family) by 10-minute bucket,
   * for this fleet only: the cache lives and dies with the prepared scenario, so two fleets can
   * never share an entry.
   */
  servingByBucket: Map<number, FamilyServing[]>;
  /** Each distinct fleet state's serving, by its figures. */
  servingStates: Map<string, FamilyServing>;
  /** Per fleet state and family, shed and late shares by utilisation (queueShares). */
  queueTables: WeakMap<FamilyServing, Float64Array>;
  /** Activity and peak flags per run start (calendarOf). */
  calendars: Map<number, Calendar>;
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
    const cohorts = makeCohorts(
      demand.users,
      scenario.cohorts_per_plan,
      demand.intensity_sigma,
      scenario.demand.spread_hours,
      seedFor(scenario.seed, name),
    );
    plans.push({
      name,
      plan,
      rate: demand.tokens_per_active_minute,
      usdPerToken,
      mix,
      costShare,
      familyWeekly,
      capped: families.flatMap((_, f) =>
        (costShare[f] ?? 0) > 0 && (familyWeekly[f] ?? Number.POSITIVE_INFINITY) !== Number.POSITIVE_INFINITY
          ? [f]
          : [],
      ),
      cohorts,
    });
  }
  const fixedShares = families.map((family) => fleet.allocation[family] ?? 0);
  const apiTiers = prepareApiTiers(scenario, fleet, policy, families);
  return {
    scenario,
    fleet,
    catalog,
    policy,
    families,
    plans,
    servingByBucket: new Map(),
    servingStates: new Map(),
    queueTables: new WeakMap(),
    calendars: new Map(),
    apiTiers,
    apiByRun: new Map(),
    fixedShares,
    totalShare: fixedShares.reduce((sum, share) => sum + share, 0),
    bounds: families.map((family) => fleet.allocation_bounds[family] ?? [0, 1]),
  };
}

/** What a run needs from the calendar: activity per step (with margins) and peak flags per plan. */
interface Calendar {
  /** Activity (0–1) of each local step: the hourly curve, lower at weekends. */
  activity: Float64Array;
  /** Per plan (in `Prepared.plans` order), 1 where its peak rule applies at that step. */
  peak: Uint8Array[];
  /** Full-fleet tokens/s per family at each step (`step × families + family`). */
  full: Float64Array;
  /** What serves each family at each step (`step × families + family`), share 1. */
  serving: FamilyServing[];
}

/** Local time moves in whole quarter hours in every time zone: ask the zone database once per. */
const QUARTER_HOUR = 15 * MINUTE;

/** Local weekday and hour for many instants in one zone, one zone-database call per quarter hour. */
function localClock(timeZone: string): (ms: number) => { weekday: number; hour: number } {
  let bucket = Number.NaN;
  let last = { weekday: 0, hour: 0 };
  return (ms) => {
    const at = Math.floor(ms / QUARTER_HOUR);
    if (at !== bucket) {
      bucket = at;
      last = localWeekdayAndHour(at * QUARTER_HOUR, timeZone);
    }
    return last;
  };
}

/**
 * The calendar of a run from `startMs`, computed once per prepared scenario and start: the zone
 * database is slow next to the simulation's arithmetic, and every solver run of a side shares it.
 */
function calendarOf(prepared: Prepared, startMs: number, steps: number, marginSteps: number): Calendar {
  const cached = prepared.calendars.get(startMs);
  if (cached) return cached;
  const { demand, resolution_minutes } = prepared.scenario;
  const resolutionMs = resolution_minutes * MINUTE;
  const local = localClock(demand.time_zone);
  const activity = new Float64Array(steps + 2 * marginSteps);
  for (let i = 0; i < activity.length; i++) {
    const { weekday, hour } = local(startMs + (i - marginSteps) * resolutionMs);
    activity[i] = (demand.hourly_activity[hour] ?? 0) * (weekday >= 6 ? demand.weekend_factor : 1);
  }
  const peak = prepared.plans.map(({ plan }) => {
    const flags = new Uint8Array(steps);
    const rule = plan.peak;
    if (!rule) return flags;
    const ruleClock = localClock(rule.time_zone);
    for (let step = 0; step < steps; step++) {
      flags[step] = isPeakHour(rule, ruleClock(startMs + step * resolutionMs)) ? 1 : 0;
    }
    return flags;
  });
  const families = prepared.families.length;
  const full = new Float64Array(steps * families);
  const serving: FamilyServing[] = [];
  for (let step = 0; step < steps; step++) {
    const at = fullServing(prepared, startMs + step * resolutionMs);
    for (let f = 0; f < families; f++) {
      const one = at[f] as FamilyServing;
      full[step * families + f] = one.tokensPerS;
      serving.push(one);
    }
  }
  const calendar = { activity, peak, full, serving };
  prepared.calendars.set(startMs, calendar);
  return calendar;
}

/** The full fleet's serving per family, sampled every 10 simulated minutes (capacity moves slowly). */
function fullServing(prepared: Prepared, atMs: number): FamilyServing[] {
  const bucket = Math.floor(atMs / (10 * MINUTE)) * 10 * MINUTE;
  let cached = prepared.servingByBucket.get(bucket);
  if (!cached) {
    // The same fleet state in many buckets is one object, so its queue table is shared.
    cached = fullFleetServing(prepared.fleet, prepared.catalog, bucket).map((serving) => {
      const key = `${serving.tokensPerS}/${serving.slots}/${serving.replicaSlots}/${serving.prefillS}`;
      const known = prepared.servingStates.get(key);
      if (known) return known;
      prepared.servingStates.set(key, serving);
      return serving;
    });
    prepared.servingByBucket.set(bucket, cached);
  }
  return cached;
}

/**
 * The queue of one replica of a family at one step. A load balancer spreads requests evenly over
 * the family's replicas and each request waits at the replica it was sent to: a queue per
 * replica, not one pooled over the fleet (which would hide queueing until the very last slot).
 */
function replicaQueue(
  serving: FamilyServing,
  share: number,
  tokensPerS: number,
  outputTokens: number,
  maxQueueS: number,
): Queue {
  const slots = serving.slots * share;
  const speed = serving.slots > 0 ? serving.tokensPerS / serving.slots : 0;
  if (slots <= 0 || speed <= 0)
    return queueOf({ slots: 0, arrivalsPerS: tokensPerS, serviceS: 1, maxQueueS });
  const replicas = Math.max(1, slots / Math.max(1, serving.replicaSlots));
  return queueOf({
    slots: slots / replicas,
    arrivalsPerS: tokensPerS / outputTokens / replicas,
    serviceS: outputTokens / speed,
    maxQueueS,
  });
}

/** Utilisations tabulated per step of 1/QUEUE_GRID, up to QUEUE_GRID_TOP; above, computed. */
const QUEUE_GRID = 2_000;
const QUEUE_GRID_TOP = 3;

/**
 * A replica's shed share and late share (admitted, over the TTFT bound) at a utilisation. They
 * depend on the step only through the utilisation (the replica's slots, its queue's length and
 * the bound are fixed while the fleet is), so each is computed once per grid point and fleet
 * state and interpolated: a queue per family and minute of every run would dominate a plan.
 */
function queueShares(
  prepared: Prepared,
  serving: FamilyServing,
  share: number,
  tokensPerS: number,
): [number, number] {
  const available = share * serving.tokensPerS;
  const utilisation = available > 0 ? tokensPerS / available : Number.POSITIVE_INFINITY;
  // Less than one replica's worth of slots, or far over: no table.
  if (serving.slots * share < serving.replicaSlots || utilisation >= QUEUE_GRID_TOP)
    return directShares(prepared, serving, share, utilisation);
  let table = prepared.queueTables.get(serving);
  if (!table) {
    table = new Float64Array(2 * (QUEUE_GRID * QUEUE_GRID_TOP + 2)).fill(Number.NaN);
    prepared.queueTables.set(serving, table);
  }
  const position = utilisation * QUEUE_GRID;
  const below = Math.floor(position);
  for (let i = below; i <= below + 1; i++) {
    if (Number.isNaN(table[2 * i])) {
      const [shed, late] = directShares(prepared, serving, share, i / QUEUE_GRID);
      table[2 * i] = shed;
      table[2 * i + 1] = late;
    }
  }
  const t = position - below;
  const shedLow = table[2 * below] as number;
  const lateLow = table[2 * below + 1] as number;
  return [
    shedLow + ((table[2 * below + 2] as number) - shedLow) * t,
    lateLow + ((table[2 * below + 3] as number) - lateLow) * t,
  ];
}

/** The shares of `queueShares` from the queue itself. */
function directShares(
  prepared: Prepared,
  serving: FamilyServing,
  share: number,
  utilisation: number,
): [number, number] {
  const levels = prepared.scenario.service_levels;
  const tokensPerS = utilisation * share * serving.tokensPerS;
  const queue = replicaQueue(
    serving,
    share,
    tokensPerS,
    prepared.fleet.workload.output_tokens,
    levels.max_queue_s,
  );
  return [queue.shed, queue.waitingLongerThan(levels.p95_ttft_s - serving.prefillS)];
}

/** The wait (s) that a share `q` of a mixture of queues' admitted requests exceed, by bisection. */
function mixtureWaitQuantile(
  queues: Array<{ queue: Queue; weight: number }>,
  q: number,
  maxS: number,
): number {
  let admitted = 0;
  for (const { queue, weight } of queues) admitted += weight * (1 - queue.shed);
  if (admitted <= 0) return 0;
  const over = (t: number) => {
    let late = 0;
    for (const { queue, weight } of queues) late += weight * queue.waitingLongerThan(t);
    return late / admitted;
  };
  if (over(0) <= q) return 0;
  let low = 0;
  let high = maxS;
  for (let i = 0; i < 40; i++) {
    const middle = (low + high) / 2;
    if (over(middle) <= q) high = middle;
    else low = middle;
  }
  return high;
}

export function simulate(prepared: Prepared, options: SimulationOptions): SimulationResult {
  const { scenario, families, plans } = prepared;
  const resolutionMs = scenario.resolution_minutes * MINUTE;
  const steps = Math.round((scenario.days * 24 * 60) / scenario.resolution_minutes);
  const margin = Math.ceil((scenario.demand.spread_hours * 60) / scenario.resolution_minutes) + 1;
  const { activity, peak: peakFlags, full, serving } = calendarOf(prepared, options.startMs, steps, margin);
  const nFamilies = families.length;
  const demandPerFamily = new Float64Array(nFamilies);
  const demandTotal = new Float64Array(steps);
  const capacityTotal = new Float64Array(steps);
  const demandByFamily = families.map(() => new Float64Array(steps));
  const capacityByFamily = families.map(() => new Float64Array(steps));
  const peakByFamily = new Float64Array(nFamilies);
  const demandScale = (options.demandScale ?? 1) * growthAt(scenario, options.startMs);
  const intensityScale = options.intensityScale ?? 1;
  const concentration = options.dayConcentration ?? scenario.demand.day_concentration;
  // Each cohort's share of its week on each day (× 7), and its habit's shift in steps.
  const days = Math.ceil((steps * resolutionMs) / DAY_MS);
  const allCohorts = plans.flatMap((plan) => plan.cohorts);
  const weightOfDay = new Float64Array(allCohorts.length * days);
  const offsetSteps = new Int32Array(allCohorts.length);
  allCohorts.forEach((cohort, i) => {
    offsetSteps[i] = Math.round(cohort.offsetMinutes / scenario.resolution_minutes);
    for (let day = 0; day < days; day++)
      weightOfDay[i * days + day] = dayWeight(day, concentration, cohort.dayPhase);
  });

  // Traffic outside tier limits follows the demand, not the API limits.
  let apiSum = 0;
  let allSum = 0;
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
  const cohortCount = allCohorts.length;
  const windowStart = new Float64Array(cohortCount).fill(Number.NEGATIVE_INFINITY);
  const windowUsed = new Float64Array(cohortCount);
  const weekStart = new Float64Array(cohortCount).fill(Number.NEGATIVE_INFINITY);
  const weekUsed = new Float64Array(cohortCount);
  const familyWeekUsed = new Float64Array(cohortCount * nFamilies);
  // What each cohort wanted against each limit (the other limit applied as it stood), and the
  // highest ratio of wanted to limit it reached: ≥ 1 means its middle user hit that limit.
  const windowWanted = new Float64Array(cohortCount);
  const weekWanted = new Float64Array(cohortCount);
  const familyWeekWanted = new Float64Array(cohortCount * nFamilies);
  const sessionRatio = new Float64Array(cohortCount);
  const weekRatio = new Float64Array(cohortCount);

  const period = rebalancePeriodSteps(scenario.allocation, scenario.resolution_minutes);
  const shareSum = new Float64Array(nFamilies);

  let overloadedSteps = 0;
  const overloadedByFamily = new Float64Array(nFamilies);
  let utilisationSum = 0;
  let peakUtilisation = 0;
  for (let step = 0; step < steps; step++) {
    const at = options.startMs + step * resolutionMs;
    demandPerFamily.fill(0);
    const day = Math.floor((step * resolutionMs) / DAY_MS);
    let c = 0;
    for (let p = 0; p < plans.length; p++) {
      const { name, plan, rate, usdPerToken, mix, costShare, familyWeekly, capped, cohorts } = plans[
        p
      ] as Prepared["plans"][number];
      let planTokens = 0;
      const peak = !options.liftPeak && (peakFlags[p] as Uint8Array)[step] === 1;
      // Peak usage counts extra against the windows the rule names (by default the 5-hour one).
      const sessionFactor = peak ? peakUsageFactor(plan.peak, "5h") : 1;
      const weekFactor = peak ? peakUsageFactor(plan.peak, "week") : 1;
      const budgetFactor = peak && plan.peak?.mode === "shrink" ? plan.peak.factor : 1;
      const multiplier = options.planMultipliers?.[name] ?? options.sessionMultiplier;
      const session = plan.session_budget_usd * multiplier * budgetFactor;
      const weeklyMultiplier = options.weeklyMultiplier ?? 1;
      const weekly = plan.weekly_budget_usd * weeklyMultiplier;
      for (const cohort of cohorts) {
        const wanted =
          (weightOfDay[c * days + day] as number) *
          (activity[step + margin + (offsetSteps[c] as number)] ?? 0) *
          cohort.intensity;
        if (wanted > 0) {
          if (at >= (windowStart[c] as number) + SESSION_MS) {
            windowStart[c] = at;
            windowUsed[c] = 0;
            windowWanted[c] = 0;
          }
          if (at >= (weekStart[c] as number) + WEEK_MS) {
            weekStart[c] = at;
            weekUsed[c] = 0;
            weekWanted[c] = 0;
            familyWeekUsed.fill(0, c * nFamilies, (c + 1) * nFamilies);
            familyWeekWanted.fill(0, c * nFamilies, (c + 1) * nFamilies);
          }
          const perUserTokens = wanted * scenario.resolution_minutes * rate * intensityScale;
          const cost = perUserTokens * usdPerToken * sessionFactor;
          const weekCost = perUserTokens * usdPerToken * weekFactor;
          const sessionRoom = session - (windowUsed[c] as number);
          let weekRoom = weekly - (weekUsed[c] as number);
          // A per-family cap binds when that family's share of the cost does not fit: the
          // user's traffic is cut in proportion (they cannot shift it to another model).
          for (const f of capped) {
            const cap = (familyWeekly[f] as number) * weeklyMultiplier;
            weekRoom = Math.min(
              weekRoom,
              (cap - (familyWeekUsed[c * nFamilies + f] as number)) / (costShare[f] as number),
            );
          }
          // Against the 5-hour window: what the week let through; against the week: what the
          // window let through.
          const weekFraction = weekCost > 0 ? Math.max(0, Math.min(1, weekRoom / weekCost)) : 1;
          const sessionFraction = cost > 0 ? Math.max(0, Math.min(1, sessionRoom / cost)) : 1;
          const fraction = Math.min(weekFraction, sessionFraction);
          windowWanted[c] = (windowWanted[c] as number) + cost * weekFraction;
          if (session > 0)
            sessionRatio[c] = Math.max(sessionRatio[c] as number, (windowWanted[c] as number) / session);
          const weekWants = weekCost * sessionFraction;
          weekWanted[c] = (weekWanted[c] as number) + weekWants;
          let ratio = weekly > 0 ? (weekWanted[c] as number) / weekly : Number.POSITIVE_INFINITY;
          const charged = weekCost * fraction;
          for (const f of capped) {
            const i = c * nFamilies + f;
            const share = costShare[f] as number;
            familyWeekWanted[i] = (familyWeekWanted[i] as number) + weekWants * share;
            familyWeekUsed[i] = (familyWeekUsed[i] as number) + charged * share;
            ratio = Math.max(
              ratio,
              (familyWeekWanted[i] as number) / ((familyWeekly[f] as number) * weeklyMultiplier),
            );
          }
          weekRatio[c] = Math.max(weekRatio[c] as number, ratio);
          windowUsed[c] = (windowUsed[c] as number) + cost * fraction;
          weekUsed[c] = (weekUsed[c] as number) + charged;
          planTokens += perUserTokens * fraction * cohort.users;
        }
        c++;
      }
      const planTps = (planTokens * demandScale) / (scenario.resolution_minutes * 60);
      for (let f = 0; f < nFamilies; f++)
        demandPerFamily[f] = (demandPerFamily[f] as number) + planTps * (mix[f] as number);
    }
    const apiActivity = activity[step + margin] ?? 0;
    for (let f = 0; f < nFamilies; f++) {
      const apiTokens =
        (apiRates[f] as number) * apiActivity + (api.served[step * nFamilies + f] as number) * demandScale;
      apiSum += apiTokens;
      allSum += (demandPerFamily[f] as number) + apiTokens;
      (demandByFamily[f] as Float64Array)[step] = (demandPerFamily[f] as number) + apiTokens;
    }
  }

  // Demand does not depend on capacity, so the split can follow it (allocation.ts).
  const splitAt = scheduleShares(
    steps,
    period,
    nFamilies,
    (step, f) => {
      const fullF = full[step * nFamilies + f] as number;
      return fullF > 0 ? ((demandByFamily[f] as Float64Array)[step] as number) / fullF : 0;
    },
    prepared.totalShare,
    prepared.bounds,
    prepared.fixedShares,
  );
  const levels = scenario.service_levels;
  const outputTokens = prepared.fleet.workload.output_tokens;
  const stepsPerHour = Math.max(1, Math.round(60 / scenario.resolution_minutes));
  // Requests per family in the current hour: admitted, and admitted but over the TTFT bound.
  const hourAdmitted = new Float64Array(nFamilies);
  const hourLate = new Float64Array(nFamilies);
  let requests = 0;
  let shedRequests = 0;
  let worst = { family: -1, hour: 0, lateShare: 0 };
  for (let step = 0; step < steps; step++) {
    const shares = splitAt(step);
    let overloaded = false;
    let stepDemand = 0;
    let stepCapacity = 0;
    for (let f = 0; f < nFamilies; f++) {
      const total = (demandByFamily[f] as Float64Array)[step] as number;
      const share = shares[f] as number;
      const available = share * (full[step * nFamilies + f] as number);
      shareSum[f] = (shareSum[f] as number) + share;
      if (total > available) {
        overloaded = true;
        overloadedByFamily[f] = (overloadedByFamily[f] as number) + 1;
      }
      if (total > 0) {
        const served = serving[step * nFamilies + f] as FamilyServing;
        const [shed, late] = queueShares(prepared, served, share, total);
        const arrivals = total / outputTokens;
        requests += arrivals;
        shedRequests += arrivals * shed;
        hourAdmitted[f] = (hourAdmitted[f] as number) + arrivals * (1 - shed);
        hourLate[f] = (hourLate[f] as number) + arrivals * late;
      }
      stepDemand += total;
      stepCapacity += available;
      (capacityByFamily[f] as Float64Array)[step] = available;
      if (available > 0) peakByFamily[f] = Math.max(peakByFamily[f] as number, total / available);
    }
    if ((step + 1) % stepsPerHour === 0 || step === steps - 1) {
      const hour = Math.floor(step / stepsPerHour);
      for (let f = 0; f < nFamilies; f++) {
        const admitted = hourAdmitted[f] as number;
        const lateShare = admitted > 0 ? (hourLate[f] as number) / admitted : 0;
        if (worst.family < 0 || lateShare > worst.lateShare) worst = { family: f, hour, lateShare };
      }
      hourAdmitted.fill(0);
      hourLate.fill(0);
    }
    demandTotal[step] = stepDemand;
    capacityTotal[step] = stepCapacity;
    const utilisation = stepCapacity > 0 ? stepDemand / stepCapacity : 0;
    utilisationSum += utilisation;
    peakUtilisation = Math.max(peakUtilisation, utilisation);
    if (overloaded) overloadedSteps++;
  }
  const shedShare = requests > 0 ? shedRequests / requests : 0;
  const service = serviceResult(prepared, {
    shedShare,
    overloadShare: overloadedSteps / steps,
    worst,
    p95TtftAt: (family, hour) => {
      const queues: Array<{ queue: Queue; weight: number }> = [];
      let prefill = 0;
      for (let step = hour * stepsPerHour; step < Math.min(steps, (hour + 1) * stepsPerHour); step++) {
        const total = (demandByFamily[family] as Float64Array)[step] as number;
        const served = serving[step * nFamilies + family] as FamilyServing;
        prefill = Math.max(prefill, served.prefillS);
        const share = splitAt(step)[family] as number;
        queues.push({
          queue: replicaQueue(served, share, total, outputTokens, levels.max_queue_s),
          weight: total,
        });
      }
      return prefill + mixtureWaitQuantile(queues, 0.05, levels.max_queue_s);
    },
    serving,
    options,
  });
  let usersTotal = 0;
  let usersSession = 0;
  let usersWeek = 0;
  let c = 0;
  for (const { cohorts } of plans) {
    for (const cohort of cohorts) {
      usersTotal += cohort.users;
      usersSession += cohort.users * bandShareAtLimit(cohort, sessionRatio[c] as number);
      usersWeek += cohort.users * bandShareAtLimit(cohort, weekRatio[c] as number);
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
    shedShare,
    service,
    apiLimitedShare: api.limitedShare,
    apiShare: allSum > 0 ? apiSum / allSum : 0,
    meanShares: Object.fromEntries(families.map((family, f) => [family, (shareSum[f] as number) / steps])),
    sessionLimitedShare: usersTotal > 0 ? usersSession / usersTotal : 0,
    weeklyLimitedShare: usersTotal > 0 ? usersWeek / usersTotal : 0,
  };
}

/** The service levels a run met and missed, with the figures each is judged on. */
function serviceResult(
  prepared: Prepared,
  run: {
    shedShare: number;
    overloadShare: number;
    worst: { family: number; hour: number; lateShare: number };
    p95TtftAt: (family: number, hour: number) => number;
    serving: FamilyServing[];
    options: SimulationOptions;
  },
): ServiceResult {
  const { scenario, families, fleet } = prepared;
  const levels = scenario.service_levels;
  const nFamilies = families.length;
  const speed: ServiceResult["speed"] = {};
  families.forEach((family, f) => {
    let slowest = Number.POSITIVE_INFINITY;
    for (let i = f; i < run.serving.length; i += nFamilies) {
      const served = run.serving[i] as FamilyServing;
      if (served.tokensPerS > 0) slowest = Math.min(slowest, served.slowestTokensPerSPerUser);
    }
    const model = fleet.models[f];
    const required = levels.min_tokens_per_s_per_user[family] ?? model?.interactivity_tokens_per_s ?? null;
    speed[family] = { tokensPerSPerUser: slowest === Number.POSITIVE_INFINITY ? 0 : slowest, required };
  });
  const missed: string[] = [];
  if (run.shedShare > levels.max_shed_share) missed.push("shed share");
  if (run.worst.lateShare > 0.05) missed.push("p95 time to first token");
  // 1% below the target is the step model's rounding of the batch, not a miss.
  for (const [family, { tokensPerSPerUser, required }] of Object.entries(speed))
    if (required !== null && tokensPerSPerUser < required * 0.99) missed.push(`${family} speed per user`);
  const target = scenario.target_overload_share;
  if (target !== undefined && run.overloadShare > target) missed.push("overloaded minutes");
  const hourMs = 3_600_000;
  const worstFamily = Math.max(0, run.worst.family);
  return {
    worstHour: {
      family: families[worstFamily] ?? "",
      startMs: run.options.startMs + run.worst.hour * hourMs,
      lateShare: run.worst.lateShare,
      p95TtftS: run.p95TtftAt(worstFamily, run.worst.hour),
    },
    speed,
    missed,
  };
}

/** Whether a run met every service level of its scenario: what "sustainable" means. */
export const meetsServiceLevels = (result: SimulationResult) => result.service.missed.length === 0;
