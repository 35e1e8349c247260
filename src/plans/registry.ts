/** Plan names and descriptions, as the built-in policy defines them. */
import { defaultPolicy } from "./default-policy.ts";
import type { Policy } from "./schema.ts";

export interface PlanInfo {
  name: string;
  kind: "subscription" | "api";
  description: string;
}

export const builtInPlans: readonly PlanInfo[] = Object.entries(defaultPolicy.plans).map(([name, plan]) => ({
  name,
  kind: plan.kind,
  description: plan.description,
}));

export function findPlan(name: string): PlanInfo | undefined {
  return builtInPlans.find((plan) => plan.name === name);
}

/**
 * Every plan an account may be put on: the built-in ones and those of any stored policy (in
 * force, scheduled or past), so an operator's own plans are assignable before their date.
 */
export function knownPlanNames(stored: readonly Policy[]): string[] {
  const names = new Set(builtInPlans.map((plan) => plan.name));
  for (const policy of stored) for (const name of Object.keys(policy.plans)) names.add(name);
  return [...names];
}
