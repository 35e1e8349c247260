/**
 * How far the verdict moves when an input moves: the margin of "5-hour ×2, peak lifted" (its
 * break-even demand as a multiple of the demand used) at both instants, with each input at a
 * low and a high value and the others as given. Inputs: demand ±30%, the allocation mode, the
 * models' interactivity targets ±30%, the prompt-cache hit share, the calibrated efficiency
 * ±20%, the reference GPU generation's alone ±20% (the per-GPU ratios), API demand ±30%, the
 * p95 time-to-first-token level halved and doubled, and the deals' GPUs all of their least and
 * of their most capable kind. A calibrated scenario is re-calibrated for every variant, as its stated assumption says
 * (the provider ran at capacity before the deal, whatever its capacity was).
 *
 * Runs at a coarser resolution than the plan (at least 20 minutes) to stay quick; the base row
 * is computed the same way, so every row compares like with like.
 */
import type { Fleet } from "../capacity/fleet-schema.ts";
import type { Efficiency, Gpu, Precision } from "../capacity/gpu-catalog.ts";
import { mixTokensPerGpu } from "../capacity/timeline.ts";
import { ConfigError } from "../config/load.ts";
import type { Policy } from "../plans/schema.ts";
import type { AllocationMode } from "./allocation.ts";
import { withApiDemand } from "./api-demand.ts";
import { calibrateDayConcentration, calibrateDemand, calibrateIntensity } from "./calibrate.ts";
import { percent } from "./format.ts";
import type { Scenario } from "./scenario.ts";
import { baselineOptions, prepare } from "./simulate.ts";
import { breakEvenDemand } from "./solve.ts";

export interface Margins {
  before: number;
  after: number;
}

export interface SensitivityRow {
  factor: string;
  lowLabel: string;
  highLabel: string;
  /** Null when the variant cannot be calibrated (a fact no demand shape reaches). */
  low: Margins | null;
  high: Margins | null;
}

export interface Sensitivity {
  resolutionMinutes: number;
  base: Margins;
  rows: SensitivityRow[];
}

interface Variant {
  scenario: Scenario;
  fleet: Fleet;
  catalog: Map<string, Gpu>;
  /** Usage per user when the variant re-calibrates it (a different public fact). */
  intensityScale?: number;
}

/** The doubled-and-lifted margin at both instants for one variant of the inputs. */
function marginsOf(variant: Variant, policy: Policy, givenIntensity: number, onRun: () => void): Margins {
  const intensityScale = variant.intensityScale ?? givenIntensity;
  const prepared = prepare(variant.scenario, variant.fleet, variant.catalog, policy);
  const calibrated =
    variant.scenario.demand.calibrate === "baseline_at_target"
      ? calibrateDemand(prepared, intensityScale, onRun)
      : 1;
  const demandScale = calibrated * variant.scenario.demand.scale;
  const at = (instant: string) =>
    breakEvenDemand(
      prepared,
      (m) => ({
        ...baselineOptions(Date.parse(instant), { demandScale: demandScale * m, intensityScale }),
        sessionMultiplier: 2,
        liftPeak: true,
      }),
      onRun,
      SENSITIVITY_ITERATIONS,
    ).multiplier;
  return { before: at(variant.scenario.compare.before), after: at(variant.scenario.compare.after) };
}

/**
 * Variants run at 20-minute steps: a margin moves by well under its own bar's width between 10
 * and 20 minutes, and 21 variants each calibrated and solved twice are most of a plan's time.
 */
export const SENSITIVITY_RESOLUTION_MINUTES = 20;

/** 12 halvings of the break-even range: steps of 0.14%, finer than a tornado's bars. */
const SENSITIVITY_ITERATIONS = 12;

function scaledEfficiency(
  catalog: Map<string, Gpu>,
  factor: number,
  only: (gpu: Gpu) => boolean = () => true,
): Map<string, Gpu> {
  const scale = (efficiency: Efficiency): Efficiency => ({
    ...efficiency,
    bandwidth: Math.min(1, efficiency.bandwidth * factor),
    compute: Math.min(1, efficiency.compute * factor),
  });
  const scaled = new Map<string, Gpu>();
  for (const [id, gpu] of catalog) {
    if (!only(gpu)) {
      scaled.set(id, gpu);
      continue;
    }
    const calibrated: Partial<Record<Precision, Efficiency>> = {};
    for (const [precision, efficiency] of Object.entries(gpu.calibrated ?? {}))
      calibrated[precision as Precision] = scale(efficiency);
    scaled.set(id, { ...gpu, calibrated });
  }
  return scaled;
}

/** The fleet with the pools of the deals online at `atMs` all of one GPU kind (same counts and dates). */
const dealOnline = (pool: Fleet["sites"][number]["pools"][number], atMs: number) =>
  pool.deal !== undefined &&
  (!pool.from || Date.parse(pool.from) <= atMs) &&
  (!pool.until || Date.parse(pool.until) > atMs);

function withDealGpu(fleet: Fleet, gpu: string, atMs: number): Fleet {
  return {
    ...fleet,
    sites: fleet.sites.map((site) => ({
      ...site,
      pools: site.pools.map((pool) => (dealOnline(pool, atMs) ? { ...pool, gpu } : pool)),
    })) as Fleet["sites"],
  };
}

/** The deals' GPU kinds that serve the fleet's mix least and most per GPU (none without deals). */
function dealGpuRange(fleet: Fleet, catalog: Map<string, Gpu>, atMs: number): [string, string] | undefined {
  const kinds = [
    ...new Set(
      fleet.sites.flatMap((site) => site.pools.filter((p) => dealOnline(p, atMs)).map((p) => p.gpu)),
    ),
  ];
  if (kinds.length < 2) return undefined;
  const value = (id: string) => mixTokensPerGpu(fleet, catalog.get(id) as Gpu);
  kinds.sort((a, b) => value(a) - value(b));
  return [kinds[0] as string, kinds[kinds.length - 1] as string];
}

function withInteractivity(fleet: Fleet, factor: number): Fleet {
  return {
    ...fleet,
    models: fleet.models.map((model) =>
      model.interactivity_tokens_per_s === undefined
        ? model
        : { ...model, interactivity_tokens_per_s: model.interactivity_tokens_per_s * factor },
    ),
  };
}

function withTtftLevel(scenario: Scenario, seconds: number): Scenario {
  return { ...scenario, service_levels: { ...scenario.service_levels, p95_ttft_s: seconds } };
}

function withCacheHit(fleet: Fleet, share: number): Fleet {
  return { ...fleet, workload: { ...fleet.workload, cache_hit_share: Math.min(1, Math.max(0, share)) } };
}

export function sensitivity(
  scenario: Scenario,
  fleet: Fleet,
  catalog: Map<string, Gpu>,
  policy: Policy,
  intensityScale: number,
  onRun: () => void = () => {},
): Sensitivity {
  const resolutionMinutes = Math.max(SENSITIVITY_RESOLUTION_MINUTES, scenario.resolution_minutes);
  const coarse: Scenario = { ...scenario, resolution_minutes: resolutionMinutes };
  const margins = (variant: Partial<Variant>) =>
    marginsOf({ scenario: coarse, fleet, catalog, ...variant }, policy, intensityScale, onRun);
  const base = margins({});
  const otherModes = (["fixed", "hourly", "daily"] as AllocationMode[]).filter(
    (mode) => mode !== scenario.allocation,
  );
  const [lowMode, highMode] = otherModes as [AllocationMode, AllocationMode];
  const cache = fleet.workload.cache_hit_share;
  const referenceGeneration = catalog.get(scenario.reference_gpu)?.generation ?? "blackwell";
  const ttft = scenario.service_levels.p95_ttft_s;
  const afterMs = Date.parse(scenario.compare.after);
  const dealRange = dealGpuRange(fleet, catalog, afterMs);
  const row = (
    factor: string,
    lowLabel: string,
    highLabel: string,
    low: Partial<Variant>,
    high: Partial<Variant>,
  ): SensitivityRow => ({ factor, lowLabel, highLabel, low: margins(low), high: margins(high) });
  /** A row whose variants re-calibrate: one that cannot be met is reported, not fatal. */
  const calibratedRow = (
    factor: string,
    values: [number, number],
    variantFor: (value: number) => Partial<Variant>,
  ): SensitivityRow => {
    const marginsAt = (value: number) => {
      let variant: Partial<Variant>;
      try {
        variant = variantFor(value);
      } catch (error) {
        if (error instanceof ConfigError) return null;
        throw error;
      }
      return margins(variant);
    };
    return {
      factor,
      lowLabel: percent(values[0]),
      highLabel: percent(values[1]),
      low: marginsAt(values[0]),
      high: marginsAt(values[1]),
    };
  };
  // Demand moves the margin exactly inversely: break-even is a fixed demand, the margin is it
  // over the demand used. No simulation needed.
  const demandRow: SensitivityRow = {
    factor: "demand",
    lowLabel: "−30%",
    highLabel: "+30%",
    low: { before: base.before / 0.7, after: base.after / 0.7 },
    high: { before: base.before / 1.3, after: base.after / 1.3 },
  };
  // The two facts the demand is calibrated to, each moved alone (usage per user, and the week's
  // shape, re-calibrated to the moved fact).
  const { weekly_cap_share: weeklyShare, peak_rule_newly_limited_share: newlyLimited } = scenario.demand;
  const withWeeklyShare = (share: number): Partial<Variant> => ({
    intensityScale: calibrateIntensity(prepare(coarse, fleet, catalog, policy), share, onRun),
  });
  const withNewlyLimited = (share: number): Partial<Variant> => {
    if (weeklyShare === undefined) return {};
    const shape = calibrateDayConcentration(coarse, fleet, catalog, policy, weeklyShare, share, onRun);
    const shaped: Scenario = {
      ...coarse,
      demand: { ...coarse.demand, day_concentration: shape.dayConcentration },
    };
    return {
      scenario: shaped,
      intensityScale: calibrateIntensity(prepare(shaped, fleet, catalog, policy), weeklyShare, onRun),
    };
  };
  const factRows: SensitivityRow[] = [];
  if (weeklyShare !== undefined)
    factRows.push(
      calibratedRow(
        "weekly-cap share",
        [weeklyShare * 0.6, Math.min(0.99, weeklyShare * 1.6)],
        withWeeklyShare,
      ),
    );
  if (newlyLimited !== undefined)
    factRows.push(
      calibratedRow("peak rule newly limits", [newlyLimited * 0.7, newlyLimited * 1.3], withNewlyLimited),
    );
  return {
    resolutionMinutes,
    base,
    rows: [
      demandRow,
      ...factRows,
      row(
        "allocation",
        lowMode,
        highMode,
        { scenario: { ...coarse, allocation: lowMode } },
        { scenario: { ...coarse, allocation: highMode } },
      ),
      row(
        "interactivity target",
        "−30%",
        "+30%",
        { fleet: withInteractivity(fleet, 0.7) },
        { fleet: withInteractivity(fleet, 1.3) },
      ),
      row(
        "cache-hit share",
        `${Math.round(Math.max(0, cache - 0.1) * 100)}%`,
        `${Math.round(Math.min(1, cache + 0.05) * 100)}%`,
        { fleet: withCacheHit(fleet, cache - 0.1) },
        { fleet: withCacheHit(fleet, cache + 0.05) },
      ),
      row(
        "efficiency",
        "−20%",
        "+20%",
        { catalog: scaledEfficiency(catalog, 0.8) },
        { catalog: scaledEfficiency(catalog, 1.2) },
      ),
      // The per-GPU ratios: the reference kind's generation alone made slower or faster.
      row(
        `${referenceGeneration} vs other GPUs`,
        "−20%",
        "+20%",
        { catalog: scaledEfficiency(catalog, 0.8, (gpu) => gpu.generation === referenceGeneration) },
        { catalog: scaledEfficiency(catalog, 1.2, (gpu) => gpu.generation === referenceGeneration) },
      ),
      row(
        "API demand",
        "−30%",
        "+30%",
        { scenario: withApiDemand(coarse, 0.7) },
        { scenario: withApiDemand(coarse, 1.3) },
      ),
      row(
        "p95 TTFT level",
        `${ttft / 2} s`,
        `${ttft * 2} s`,
        { scenario: withTtftLevel(coarse, ttft / 2) },
        { scenario: withTtftLevel(coarse, ttft * 2) },
      ),
      ...(dealRange
        ? [
            row(
              "deal GPU mix",
              `all ${dealRange[0]}`,
              `all ${dealRange[1]}`,
              { fleet: withDealGpu(fleet, dealRange[0], afterMs) },
              { fleet: withDealGpu(fleet, dealRange[1], afterMs) },
            ),
          ]
        : []),
    ],
  };
}
