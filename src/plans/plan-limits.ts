/**
 * A plan in a policy, at an instant, for a model family → the limiter dimensions of a request
 * and what a given usage costs in each. Dimension lists are cached per (policy, plan, class,
 * peak, month, scale) so the limiter sees the same array again and again (its stores key their
 * layouts by array identity).
 */
import { DEFAULT_LEASE_MS } from "../limits/concurrency.ts";
import type { DimensionSpec } from "../limits/dimension.ts";
import type { Usage } from "../protocol/anthropic.ts";
import { isPeak } from "./peak.ts";
import {
  type ApiPlan,
  type ModelClass,
  type Plan,
  type Policy,
  peakUsageFactor,
  type SubscriptionPlan,
} from "./schema.ts";
import { type UnitPrices, unitPrices, usageUnits, usdToUnits } from "./usage-units.ts";

const HOUR = 3_600_000;
export const SESSION_MS = 5 * HOUR;
export const WEEK_MS = 7 * 24 * HOUR;

export interface PlanLimits {
  policyVersion: string;
  planName: string;
  plan: Plan;
  modelClass: string;
  prices: UnitPrices;
  peak: boolean;
  dimensions: readonly DimensionSpec[];
  /** What `usage` costs in each dimension, in the dimension's unit. */
  costs(usage: Usage): number[];
  /** The organisation, team or key whose limits were added (level-limits.ts), for messages. */
  levelNames?: Partial<Record<"organisation" | "team" | "key", string>>;
  /** The plans those levels carry, by level, for messages. */
  levelPlans?: Partial<Record<"organisation" | "team" | "key", string>>;
}

/** The model class a family belongs to in this policy (the first class listing it). */
export function classFor(policy: Policy, family: string): [string, ModelClass] {
  for (const [name, modelClass] of Object.entries(policy.model_classes)) {
    if (modelClass.families.includes(family)) return [name, modelClass];
  }
  // A family no class lists is priced like the most expensive class, never for free.
  const entries = Object.entries(policy.model_classes).sort(([, a], [, b]) => b.output - a.output);
  const fallback = entries[0];
  if (!fallback) throw new Error(`policy ${policy.version} has no model classes`);
  return fallback;
}

function monthBounds(nowMs: number): { start: number; length: number } {
  const now = new Date(nowMs);
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return { start, length: next - start };
}

const scaled = (limit: number, scale: number) => Math.max(1, Math.floor(limit * scale));

function subscriptionDimensions(
  plan: SubscriptionPlan,
  family: string,
  peak: boolean,
  scale: number,
): DimensionSpec[] {
  const shrink = peak && plan.peak?.mode === "shrink" ? plan.peak.factor : 1;
  const dims: DimensionSpec[] = [
    {
      kind: "window",
      name: "5h",
      limit: scaled(usdToUnits(plan.session_budget_usd), scale * shrink),
      periodMs: SESSION_MS,
    },
    {
      kind: "window",
      name: "week",
      limit: scaled(usdToUnits(plan.weekly_budget_usd), scale),
      periodMs: WEEK_MS,
    },
  ];
  const familyBudget = plan.weekly_family_budgets_usd[family];
  if (familyBudget !== undefined) {
    dims.push({
      kind: "window",
      name: `week-${family}`,
      limit: scaled(usdToUnits(familyBudget), scale),
      periodMs: WEEK_MS,
    });
  }
  return dims;
}

function apiDimensions(plan: ApiPlan, modelClass: string, nowMs: number, scale: number): DimensionSpec[] {
  const rates = plan.rate_limits[modelClass] ?? plan.rate_limits.default;
  if (!rates) throw new Error("api plan without default rate limits");
  const month = monthBounds(nowMs);
  return [
    { kind: "rate", name: "rpm", limit: scaled(rates.rpm, scale), periodMs: 60_000 },
    { kind: "rate", name: "itpm", limit: scaled(rates.itpm, scale), periodMs: 60_000 },
    { kind: "rate", name: "otpm", limit: scaled(rates.otpm, scale), periodMs: 60_000 },
    { kind: "concurrency", name: "concurrency", limit: plan.concurrency, leaseMs: DEFAULT_LEASE_MS },
    {
      kind: "window",
      name: "month",
      limit: usdToUnits(plan.monthly_spend_usd),
      periodMs: month.length,
      anchorMs: month.start,
    },
  ];
}

/**
 * Built limits per policy object: a cache that belongs to the policy (it goes when the policy
 * goes) so two policies, even with the same version name, can never share an entry.
 */
const byPolicy = new WeakMap<Policy, Map<string, PlanLimits>>();

export function planLimits(
  policy: Policy,
  planName: string,
  family: string,
  nowMs: number,
  capacityScale = 1,
): PlanLimits | undefined {
  const plan = policy.plans[planName];
  if (!plan) return undefined;
  const [className, modelClass] = classFor(policy, family);
  const peak = plan.kind === "subscription" && isPeak(plan.peak, nowMs);
  const monthKey = plan.kind === "api" ? monthBounds(nowMs).start : 0;
  let cache = byPolicy.get(policy);
  if (!cache) {
    cache = new Map();
    byPolicy.set(policy, cache);
  }
  const cacheKey = `${planName}|${className}|${family}|${peak}|${monthKey}|${capacityScale}`;
  const cached = cache.get(cacheKey);
  if (cached) return cached;

  const prices = unitPrices(modelClass);
  const dimensions =
    plan.kind === "subscription"
      ? subscriptionDimensions(plan, family, peak, capacityScale)
      : apiDimensions(plan, className, nowMs, capacityScale);
  // Peak usage counts extra against the windows the rule names (by default the 5-hour one).
  const factors =
    plan.kind === "subscription"
      ? dimensions.map((spec) => (peak ? peakUsageFactor(plan.peak, spec.name === "5h" ? "5h" : "week") : 1))
      : [];
  const costs =
    plan.kind === "subscription"
      ? (usage: Usage) => {
          const units = usageUnits(prices, usage);
          return factors.map((factor) => Math.ceil(units * factor));
        }
      : (usage: Usage) => [
          1,
          usage.input_tokens + usage.cache_creation_input_tokens,
          usage.output_tokens,
          0,
          usageUnits(prices, usage),
        ];
  const limits: PlanLimits = {
    policyVersion: policy.version,
    planName,
    plan,
    modelClass: className,
    prices,
    peak,
    dimensions,
    costs,
  };
  // Months and capacity scales keep coming: bound what one long-lived policy keeps.
  if (cache.size > 1_000) cache.clear();
  cache.set(cacheKey, limits);
  return limits;
}

const withLease = new WeakMap<PlanLimits, Map<number, PlanLimits>>();

/**
 * The same limits with concurrency leases living `leaseMs` without being kept alive (the
 * gateway's `limiter.concurrency_lease_ms`). Built once per limits object and length, so the
 * stores see one dimension list per plan as they do without it.
 */
export function withLeaseMs(limits: PlanLimits, leaseMs: number): PlanLimits {
  if (!limits.dimensions.some((spec) => spec.kind === "concurrency" && spec.leaseMs !== leaseMs))
    return limits;
  let byLength = withLease.get(limits);
  if (!byLength) {
    byLength = new Map();
    withLease.set(limits, byLength);
  }
  let relet = byLength.get(leaseMs);
  if (!relet) {
    // Costs are positional, so the plan's own cost function still lines up.
    const dimensions = limits.dimensions.map((spec) =>
      spec.kind === "concurrency" ? { ...spec, leaseMs } : spec,
    );
    relet = { ...limits, dimensions };
    byLength.set(leaseMs, relet);
  }
  return relet;
}

/**
 * Usage credits: past a subscription's limits an account that opted in is served on credits,
 * billed at API prices (no peak multiplier) up to its monthly cap.
 */
export function creditLimits(limits: PlanLimits, capUsd: number, nowMs: number): PlanLimits {
  const month = monthBounds(nowMs);
  const dimensions: DimensionSpec[] = [
    {
      kind: "window",
      name: "credits",
      limit: usdToUnits(capUsd),
      periodMs: month.length,
      anchorMs: month.start,
    },
  ];
  return { ...limits, dimensions, costs: (usage: Usage) => [usageUnits(limits.prices, usage)] };
}
