/**
 * A planning run: simulate the week before and the week after the deal, solve for the largest
 * sustainable 5-hour multiplier (peak rule lifted) and API multiplier on each side, and state
 * the conclusions from those numbers. Pure computation; the CLI prints and writes the results.
 */
import type { Fleet } from "../capacity/fleet-schema.ts";
import type { Gpu } from "../capacity/gpu-catalog.ts";
import type { Policy } from "../plans/schema.ts";
import type { Scenario } from "./scenario.ts";
import { prepare, type SimulationResult, simulate } from "./simulate.ts";
import { largestSustainable } from "./solve.ts";

/** API limits "can rise" when API traffic can grow by at least this factor without overload. */
export const API_RAISE_THRESHOLD = 1.25;

export interface SideResult {
  label: "before" | "after";
  startMs: number;
  gpusOnline: number;
  baseline: SimulationResult;
  doubledWithoutPeak: SimulationResult;
  /** Largest 5-hour multiplier with the peak rule lifted that keeps overload under target. */
  maxSessionMultiplier: number;
  /** The same for each plan alone, the other plans kept at their budgets. */
  maxSessionMultiplierByPlan: Record<string, number>;
  /** Largest multiplier on API traffic at baseline subscription limits. */
  maxApiMultiplier: number;
}

export interface PlanResult {
  scenario: Scenario;
  before: SideResult;
  after: SideResult;
  conclusions: { doubleSessionAndLiftPeak: [boolean, boolean]; raiseApi: [boolean, boolean] };
}

export function plan(
  scenario: Scenario,
  fleet: Fleet,
  catalog: Map<string, Gpu>,
  policy: Policy,
  gpusOnlineAt: (ms: number) => number,
  onProgress: (done: number, total: number) => void = () => {},
): PlanResult {
  const prepared = prepare(scenario, fleet, catalog, policy);
  // At most 2 sides × (2 runs + one solver per plan, one joint and one for API, each up to
  // 2 + 12 runs); solvers may stop sooner.
  const total = 2 * (2 + (2 + prepared.plans.length) * 14);
  let done = 0;
  const ran = () => onProgress(++done, total);
  const tick = <T>(value: T): T => {
    ran();
    return value;
  };
  const side = (label: "before" | "after", at: string): SideResult => {
    const startMs = Date.parse(at);
    const base = { startMs, sessionMultiplier: 1, liftPeak: false, apiMultiplier: 1 };
    const baseline = tick(simulate(prepared, base));
    const doubledWithoutPeak = tick(simulate(prepared, { ...base, sessionMultiplier: 2, liftPeak: true }));
    const session = largestSustainable(
      prepared,
      (m) => ({ ...base, liftPeak: true, sessionMultiplier: m }),
      ran,
    );
    const api = largestSustainable(prepared, (m) => ({ ...base, apiMultiplier: m }), ran);
    const byPlan: Record<string, number> = {};
    for (const { name } of prepared.plans) {
      const one = (m: number) => ({ ...base, liftPeak: true, planMultipliers: { [name]: m } });
      byPlan[name] = largestSustainable(prepared, one, ran).multiplier;
    }
    return {
      label,
      startMs,
      gpusOnline: gpusOnlineAt(startMs),
      baseline,
      doubledWithoutPeak,
      maxSessionMultiplier: session.multiplier,
      maxSessionMultiplierByPlan: byPlan,
      maxApiMultiplier: api.multiplier,
    };
  };
  const before = side("before", scenario.compare.before);
  const after = side("after", scenario.compare.after);
  onProgress(total, total);
  const target = scenario.target_overload_share;
  const canDouble = (s: SideResult) => s.doubledWithoutPeak.overloadShare <= target;
  return {
    scenario,
    before,
    after,
    conclusions: {
      doubleSessionAndLiftPeak: [canDouble(before), canDouble(after)],
      raiseApi: [
        before.maxApiMultiplier >= API_RAISE_THRESHOLD,
        after.maxApiMultiplier >= API_RAISE_THRESHOLD,
      ],
    },
  };
}

/**
 * The policy the plan supports after the deal: budgets and API limits scaled, peak rule gone.
 * It uses the joint multiplier (every plan raised together), not the per-plan ones, which each
 * assume the other plans stay where they are.
 */
export function plannedPolicy(base: Policy, result: PlanResult, effectiveFrom: string): Policy {
  // Round down to a tenth and stay within ×4 of the baseline: a plan is a model, not a promise.
  const session = Math.min(4, Math.floor(result.after.maxSessionMultiplier * 10) / 10);
  const api = Math.min(4, Math.floor(result.after.maxApiMultiplier * 10) / 10);
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
