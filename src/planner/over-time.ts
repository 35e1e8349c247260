/**
 * A plan over months: week by week from the `before` instant to a later date, the fleet as it
 * is that week (deals ramping, GPUs down, sites joining) against demand as it has grown, with the
 * margin of the policy as it is and of "5-hour ×2, peak lifted" each week. Where a margin falls
 * below ×1 the policy stops meeting its service levels: the runway of a limit change.
 *
 * Runs at a coarse resolution (hourly by default: a week's margin moves little with it), with
 * the scenario calibrated at that resolution, as the sensitivity does.
 */
import type { Fleet } from "../capacity/fleet-schema.ts";
import type { Gpu } from "../capacity/gpu-catalog.ts";
import { changeDates, gpuEquivalents, poolsOnline } from "../capacity/timeline.ts";
import type { Policy } from "../plans/schema.ts";
import { type CalibratedScenario, calibrateScenario, type Multiplier } from "./plan.ts";
import type { Scenario } from "./scenario.ts";
import { baselineOptions, growthAt, simulate } from "./simulate.ts";
import { breakEvenDemand } from "./solve.ts";

const DAY_MS = 86_400_000;
/** 12 halvings of the break-even range: steps of 0.14%. */
const ITERATIONS = 12;

export interface OverTimeOptions {
  /** The last week starts before this instant. */
  untilMs: number;
  stepDays: number;
  resolutionMinutes: number;
}

export interface WeekPoint {
  startMs: number;
  gpusInstalled: number;
  gpusOnline: number;
  gpuEquivalents: number;
  /** Demand as a multiple of the `before` week's (weekly_growth compounded). */
  growth: number;
  /** Mean and peak utilisation of the fleet at the baseline policy. */
  meanUtilisation: number;
  peakUtilisation: number;
  margin: { baseline: Multiplier; doubledPeakLifted: Multiplier };
}

export interface OverTimeResult {
  calibration: CalibratedScenario;
  options: OverTimeOptions;
  points: WeekPoint[];
  /** The first week "5-hour ×2, peak lifted" meets the service levels, if any. */
  doubledHoldsFrom: number | null;
  /** The first week after that when it no longer does (demand outgrew the fleet), if any. */
  doubledFailsFrom: number | null;
}

/** The default end: four weeks past the fleet's last change, at least twelve weeks out. */
export function defaultUntil(scenario: Scenario, fleet: Fleet): number {
  const start = Date.parse(scenario.compare.before);
  const last = Math.max(start, ...changeDates(fleet));
  return Math.max(last + 28 * DAY_MS, start + 12 * 7 * DAY_MS);
}

export function weekStarts(scenario: Scenario, options: OverTimeOptions): number[] {
  const starts: number[] = [];
  for (let at = Date.parse(scenario.compare.before); at < options.untilMs; at += options.stepDays * DAY_MS)
    starts.push(at);
  return starts;
}

export function planOverTime(
  given: Scenario,
  fleet: Fleet,
  catalog: Map<string, Gpu>,
  policy: Policy,
  options: OverTimeOptions,
  onProgress: (done: number, total: number, stage: string) => void = () => {},
): OverTimeResult {
  const coarse: Scenario = {
    ...given,
    resolution_minutes: Math.max(given.resolution_minutes, options.resolutionMinutes),
  };
  const starts = weekStarts(coarse, options);
  // Calibration runs are not counted: the weeks are the bulk of the work.
  onProgress(0, starts.length, "calibrating at the plan's resolution");
  const calibration = calibrateScenario(coarse, fleet, catalog, policy);
  const { prepared, demandScale, intensityScale, scenario } = calibration;
  const points: WeekPoint[] = [];
  for (const [i, startMs] of starts.entries()) {
    onProgress(i, starts.length, `week of ${new Date(startMs).toISOString().slice(0, 10)}`);
    const base = baselineOptions(startMs, { demandScale, intensityScale });
    const doubled = { ...base, sessionMultiplier: 2, liftPeak: true };
    const run = simulate(prepared, base);
    const margin = (of: typeof base) => {
      const found = breakEvenDemand(
        prepared,
        (m) => ({ ...of, demandScale: demandScale * m }),
        () => {},
        ITERATIONS,
      );
      return { value: found.multiplier, atSearchLimit: found.atSearchLimit };
    };
    const pools = poolsOnline(fleet, catalog, startMs);
    points.push({
      startMs,
      gpusInstalled: pools.reduce((sum, pool) => sum + pool.installed, 0),
      gpusOnline: pools.reduce((sum, pool) => sum + pool.online, 0),
      gpuEquivalents: gpuEquivalents(fleet, catalog, startMs, scenario.reference_gpu),
      growth: growthAt(scenario, startMs),
      meanUtilisation: run.meanUtilisation,
      peakUtilisation: run.peakUtilisation,
      margin: { baseline: margin(base), doubledPeakLifted: margin(doubled) },
    });
  }
  onProgress(starts.length, starts.length, "done");
  const holds = points.findIndex((point) => point.margin.doubledPeakLifted.value >= 1);
  const fails =
    holds < 0 ? -1 : points.findIndex((point, i) => i > holds && point.margin.doubledPeakLifted.value < 1);
  return {
    calibration,
    options,
    points,
    doubledHoldsFrom: points[holds]?.startMs ?? null,
    doubledFailsFrom: points[fails]?.startMs ?? null,
  };
}
