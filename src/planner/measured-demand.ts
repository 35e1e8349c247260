/**
 * A scenario's demand from a measured demand file (`demand: { from: FILE, users_scale: N }`,
 * written by `headroom demand export`): the measured figures take the place of the stated ones
 * where the ledger holds enough to measure them, the stated ones stand where it does not, and
 * `demand.provenance` says which figure came from where (the report prints it).
 */
import { dirname, resolve } from "node:path";
import { readYamlFile } from "../config/yaml-file.ts";
import { measuredDemandSchema } from "./demand-export.ts";

/** Fewer users (or keys) than this measure a plan's spread too loosely to replace a stated one. */
export const MIN_MEASURED = 5;

type Raw = Record<string, unknown>;

const isObject = (value: unknown): value is Raw =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The raw scenario with its measured demand merged in (unchanged without `demand.from`). */
export function withMeasuredDemand(raw: unknown, scenarioFile: string): unknown {
  if (!isObject(raw) || !isObject(raw.demand) || typeof raw.demand.from !== "string") return raw;
  const stated = raw.demand;
  const file = resolve(dirname(resolve(scenarioFile)), stated.from as string);
  const measured = readYamlFile(file, measuredDemandSchema);
  const scale = typeof stated.users_scale === "number" ? stated.users_scale : 1;
  const provenance: Record<string, "measured" | "stated"> = {};
  const demand: Raw = { ...stated };
  const take = (field: string, value: unknown, enough: boolean) => {
    if (enough || demand[field] === undefined) {
      demand[field] = value;
      provenance[field] = "measured";
    } else provenance[field] = "stated";
  };
  const subscribers = Object.values(measured.plans).reduce((sum, plan) => sum + plan.users, 0);
  const enoughUsers = subscribers >= MIN_MEASURED;
  take("time_zone", measured.time_zone, stated.time_zone === undefined);
  take("hourly_activity", measured.hourly_activity, enoughUsers);
  take("weekend_factor", measured.weekend_factor, enoughUsers);
  // A week's shape needs a week of ledger; a stated fact the shape is calibrated to wins over it.
  if (stated.peak_rule_newly_limited_share === undefined) {
    if (enoughUsers && measured.measured.days >= 7) {
      demand.day_concentration = measured.day_concentration;
      provenance.day_concentration = "measured";
    } else provenance.day_concentration = "stated";
  }
  const plans: Raw = { ...(isObject(stated.plans) ? stated.plans : {}) };
  for (const [name, plan] of Object.entries(measured.plans)) {
    if (plan.fit.n < MIN_MEASURED && plans[name] !== undefined) {
      provenance[`plans.${name}`] = "stated";
      continue;
    }
    plans[name] = {
      users: Math.round(plan.users * scale),
      tokens_per_active_minute: Math.max(1e-6, plan.tokens_per_active_minute),
      intensity_sigma: Math.min(3, plan.intensity_sigma),
      model_mix: plan.model_mix,
    };
    provenance[`plans.${name}`] = "measured";
  }
  for (const name of Object.keys(plans)) provenance[`plans.${name}`] ??= "stated";
  demand.plans = plans;
  const tiers: Raw = { ...(isObject(stated.api_tiers) ? stated.api_tiers : {}) };
  for (const [name, tier] of Object.entries(measured.api_tiers)) {
    if (tier.fit.n < MIN_MEASURED && tiers[name] !== undefined) {
      provenance[`api_tiers.${name}`] = "stated";
      continue;
    }
    tiers[name] = {
      keys: Math.round(tier.keys * scale),
      tokens_per_s_per_key: Math.max(1e-6, tier.tokens_per_s_per_key),
      intensity_sigma: Math.min(4, tier.intensity_sigma),
      model_mix: tier.model_mix,
    };
    provenance[`api_tiers.${name}`] = "measured";
  }
  for (const name of Object.keys(tiers)) provenance[`api_tiers.${name}`] ??= "stated";
  demand.api_tiers = tiers;
  demand.provenance = provenance;
  return { ...raw, demand };
}
