/**
 * Limits above and below an account: an organisation and a team (shared by every account in
 * them) and one API key (narrower than its account's plan). Each level may set rates,
 * concurrency and dollar budgets; they become dimensions of their own scope, decided in the
 * same limiter decision as the plan's (limits/limiter-store.ts), so a request needs room at
 * every level at once and a refusal names the level that had none.
 */
import { z } from "zod";
import { DEFAULT_LEASE_MS } from "../limits/concurrency.ts";
import type { DimensionSpec } from "../limits/dimension.ts";
import type { Usage } from "../protocol/anthropic.ts";
import type { PlanLimits } from "./plan-limits.ts";
import { usageUnits, usdToUnits } from "./usage-units.ts";

const positive = z.number().positive();
const count = z.number().int().positive();

export const levelLimitsSchema = z
  .object({
    /**
     * A plan of the policy in force, shared by the level: its windows, rates and concurrency
     * hold for everyone in it together (an organisation on one API tier).
     */
    plan: z.string().min(1).optional(),
    requests_per_minute: count.optional(),
    input_tokens_per_minute: count.optional(),
    output_tokens_per_minute: count.optional(),
    /** Requests in flight at once. */
    concurrency: count.optional(),
    /** Spend at API prices per calendar month (UTC). */
    monthly_budget_usd: positive.optional(),
    /** Spend at API prices per week (Monday 00:00 UTC). */
    weekly_budget_usd: positive.optional(),
  })
  .strict();

export type LevelLimits = z.infer<typeof levelLimitsSchema>;
export type Level = "organisation" | "team" | "key";

/** One level's limits as an identity carries them. */
export interface LevelBinding {
  level: Level;
  /** The organisation's or team's name, or the key's id. */
  name: string;
  limits: LevelLimits;
}

/** Dimension names start with the level's short name: `org-month`, `team-rpm`, `key-otpm`. */
export const LEVEL_PREFIX: Record<Level, string> = { organisation: "org", team: "team", key: "key" };

const MINUTE = 60_000;
const WEEK = 7 * 24 * 60 * MINUTE;
/** A Monday, so weekly budgets turn over at Monday 00:00 UTC. */
const WEEK_ANCHOR = Date.UTC(2024, 0, 1);

/** Parses stored limits text; a level without limits has `{}`. */
export function parseLevelLimits(text: string | null | undefined): LevelLimits {
  if (!text) return {};
  return levelLimitsSchema.parse(JSON.parse(text));
}

type Cost = (usage: Usage, units: number) => number;

function levelDimensions(binding: LevelBinding, nowMs: number): Array<{ spec: DimensionSpec; cost: Cost }> {
  const { limits } = binding;
  const prefix = LEVEL_PREFIX[binding.level];
  const scope = `${binding.level}:${binding.name}`;
  const out: Array<{ spec: DimensionSpec; cost: Cost }> = [];
  const rate = (name: string, limit: number | undefined, cost: Cost) => {
    if (limit !== undefined)
      out.push({ spec: { kind: "rate", name: `${prefix}-${name}`, limit, periodMs: MINUTE, scope }, cost });
  };
  rate("rpm", limits.requests_per_minute, () => 1);
  rate(
    "itpm",
    limits.input_tokens_per_minute,
    (usage) => usage.input_tokens + usage.cache_creation_input_tokens,
  );
  rate("otpm", limits.output_tokens_per_minute, (usage) => usage.output_tokens);
  if (limits.concurrency !== undefined) {
    out.push({
      spec: {
        kind: "concurrency",
        name: `${prefix}-concurrency`,
        limit: limits.concurrency,
        leaseMs: DEFAULT_LEASE_MS,
        scope,
      },
      cost: () => 0,
    });
  }
  if (limits.monthly_budget_usd !== undefined) {
    const now = new Date(nowMs);
    const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    out.push({
      spec: {
        kind: "window",
        name: `${prefix}-month`,
        limit: usdToUnits(limits.monthly_budget_usd),
        periodMs: next - start,
        anchorMs: start,
        scope,
      },
      cost: (_usage, units) => units,
    });
  }
  if (limits.weekly_budget_usd !== undefined) {
    out.push({
      spec: {
        kind: "window",
        name: `${prefix}-week`,
        limit: usdToUnits(limits.weekly_budget_usd),
        periodMs: WEEK,
        anchorMs: WEEK_ANCHOR,
        scope,
      },
      cost: (_usage, units) => units,
    });
  }
  return out;
}

/**
 * Built lists per plan limits object and level signature, so the limiter sees the same arrays
 * again (its stores key their layouts by array identity); they go when the plan limits go.
 */
const built = new WeakMap<PlanLimits, Map<string, PlanLimits>>();

const NO_PLANS: ReadonlyMap<Level, PlanLimits> = new Map();

/** A stable number per plan-limits object, so a cache key can name the exact lists used. */
const ids = new WeakMap<PlanLimits, number>();
let nextId = 0;
const idOf = (limits: PlanLimits) => {
  let id = ids.get(limits);
  if (id === undefined) {
    id = ++nextId;
    ids.set(limits, id);
  }
  return id;
};

/** A level's plan as dimensions of the level's scope: `team-5h`, `org-rpm`, … */
function planDimensions(binding: LevelBinding, plan: PlanLimits): Array<{ spec: DimensionSpec; cost: Cost }> {
  const prefix = LEVEL_PREFIX[binding.level];
  const scope = `${binding.level}:${binding.name}`;
  return plan.dimensions.map((spec, index) => ({
    spec: { ...spec, name: `${prefix}-${spec.name}`, scope },
    cost: (usage) => plan.costs(usage)[index] ?? 0,
  }));
}

/**
 * The plan's limits with every level's dimensions after them. `levelPlans` holds the limits of
 * the plans levels carry, already resolved for this request's model family and instant.
 */
export function withLevels(
  limits: PlanLimits,
  levels: readonly LevelBinding[],
  nowMs: number,
  levelPlans: ReadonlyMap<Level, PlanLimits> = NO_PLANS,
): PlanLimits {
  // Most keys belong to no team and have no limits of their own: nothing to build or allocate.
  if (levels.length === 0) return limits;
  const active = levels.filter((binding) => Object.keys(binding.limits).length > 0);
  if (active.length === 0) return limits;
  const month = new Date(nowMs).toISOString().slice(0, 7);
  const plans = [...levelPlans].map(([level, plan]) => `${level}=${idOf(plan)}`).join(",");
  const signature = `${month}|${plans}|${JSON.stringify(active)}`;
  let cache = built.get(limits);
  if (!cache) {
    cache = new Map();
    built.set(limits, cache);
  }
  const cached = cache.get(signature);
  if (cached) return cached;
  const extra = active.flatMap((binding) => {
    const plan = levelPlans.get(binding.level);
    return [...(plan ? planDimensions(binding, plan) : []), ...levelDimensions(binding, nowMs)];
  });
  const dimensions = [...limits.dimensions, ...extra.map(({ spec }) => spec)];
  const levelNames: Partial<Record<Level, string>> = { ...limits.levelNames };
  const planNames: Partial<Record<Level, string>> = { ...limits.levelPlans };
  for (const binding of active) {
    levelNames[binding.level] = binding.name;
    if (binding.limits.plan) planNames[binding.level] = binding.limits.plan;
  }
  const combined: PlanLimits = {
    ...limits,
    dimensions,
    levelNames,
    levelPlans: planNames,
    costs(usage) {
      // Budgets above the account are spent at API prices (no peak multiplier).
      const units = usageUnits(limits.prices, usage);
      return [...limits.costs(usage), ...extra.map(({ cost }) => cost(usage, units))];
    },
  };
  if (cache.size > 1_000) cache.clear();
  cache.set(signature, combined);
  return combined;
}
