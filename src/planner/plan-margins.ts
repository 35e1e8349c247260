/**
 * The plan's figures kept with a proposed policy, and the margin that stands behind each change
 * it makes: a reviewer reads "5-hour budget $8 → $16" beside "sustainable up to ×2.4 for this
 * plan". Read from the `plan.json` a plan run writes (plan-json.ts).
 */
import { z } from "zod";
import { diffPolicies } from "../plans/policy-diff.ts";
import type { Policy } from "../plans/schema.ts";
import type { PlanJson } from "./plan-json.ts";
import { SEARCH_RANGE } from "./solve.ts";

/** What a draft keeps of its plan run (stored as the draft's notes, JSON). */
export const planNotesSchema = z
  .object({
    scenario: z.string(),
    at: z.string(),
    baseline_assumption: z.string(),
    joint_5h_multiplier: z.number(),
    by_plan_5h_multiplier: z.record(z.string(), z.number()),
    api_multiplier: z.number(),
    doubled_peak_lifted_margin: z.number(),
    capacity_margin_gpus: z.number().nullable(),
    reference_gpu: z.string(),
  })
  .strict();

export type PlanNotes = z.infer<typeof planNotesSchema>;

export function planNotesOf(json: PlanJson, scenario: string): PlanNotes {
  const side = json.after;
  return {
    scenario,
    at: side.at,
    baseline_assumption: json.baseline_assumption,
    joint_5h_multiplier: side.sustainable_5h_multiplier.value,
    by_plan_5h_multiplier: Object.fromEntries(
      Object.entries(side.sustainable_5h_multiplier_by_plan).map(([plan, m]) => [plan, m.value]),
    ),
    api_multiplier: side.sustainable_api_multiplier.value,
    doubled_peak_lifted_margin: side.margin.doubled_peak_lifted,
    capacity_margin_gpus: side.capacity_margin_gpus,
    reference_gpu: json.reference_gpu,
  };
}

/** Notes stored as text: the plan's, or none when they are not a plan's (a hand-written draft). */
export function readPlanNotes(notes: string | null): PlanNotes | null {
  if (!notes) return null;
  try {
    return planNotesSchema.parse(JSON.parse(notes));
  } catch {
    return null;
  }
}

/** A multiplier the solver reached its ceiling on is a floor, not a finding. */
const times = (x: number) =>
  x >= SEARCH_RANGE[1] ? `≥ ×${x.toFixed(2)} (search limit)` : `×${x.toFixed(2)}`;

/** The plan's margin behind one changed field of a policy (`plans.pro.session_budget_usd`), if any. */
export function marginFor(path: string, notes: PlanNotes | null): string {
  if (!notes) return "";
  const [root, plan, field] = path.split(".");
  if (root !== "plans" || !plan) return "";
  if (field === "session_budget_usd") {
    const alone = notes.by_plan_5h_multiplier[plan];
    return `sustainable ${times(notes.joint_5h_multiplier)} jointly${alone === undefined ? "" : `, ${times(alone)} alone`}`;
  }
  if (field === "peak")
    return `×2 with the peak lifted: margin ${times(notes.doubled_peak_lifted_margin)} of demand`;
  if (field === "rate_limits") return `API limits sustainable up to ${times(notes.api_multiplier)}`;
  return "";
}

export interface ReviewedChange {
  path: string;
  before: unknown;
  after: unknown;
  /** The plan's margin behind the change ("" where the plan says nothing about it). */
  margin: string;
}

/** A draft's changes against the policy in force at its date, each with the plan's margin. */
export function reviewChanges(
  inForce: Policy,
  draft: { policy: Policy; notes: string | null },
): ReviewedChange[] {
  const notes = readPlanNotes(draft.notes);
  return diffPolicies(inForce, draft.policy).map((change) => ({
    ...change,
    margin: marginFor(change.path, notes),
  }));
}
