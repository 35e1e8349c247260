/**
 * The built-in plans, by name. Subscription plans mirror the public Claude plans (Pro, Max 5x,
 * Max 20x); API plans mirror the classic usage tiers. Their limits are data that the policy
 * module attaches; here a plan is a name, a kind and a one-line description.
 */
export type PlanKind = "subscription" | "api";

export interface PlanInfo {
  name: string;
  kind: PlanKind;
  description: string;
}

export const builtInPlans: readonly PlanInfo[] = [
  { name: "pro", kind: "subscription", description: "Pro: a 5-hour session budget and a weekly cap" },
  { name: "max-5x", kind: "subscription", description: "Max 5x: five times Pro per session" },
  { name: "max-20x", kind: "subscription", description: "Max 20x: twenty times Pro per session" },
  { name: "api-tier-1", kind: "api", description: "API tier 1: 50 RPM, $100/month" },
  { name: "api-tier-2", kind: "api", description: "API tier 2: 1,000 RPM, $500/month" },
  { name: "api-tier-3", kind: "api", description: "API tier 3: 2,000 RPM, $1,000/month" },
  { name: "api-tier-4", kind: "api", description: "API tier 4: 4,000 RPM, $5,000/month" },
  { name: "priority", kind: "api", description: "Priority tier: served first under load" },
];

export function findPlan(name: string): PlanInfo | undefined {
  return builtInPlans.find((plan) => plan.name === name);
}
