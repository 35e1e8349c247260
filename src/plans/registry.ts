/** Plan names and descriptions, as the built-in policy defines them. */
import { defaultPolicy } from "./default-policy.ts";

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
