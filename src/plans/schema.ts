/** The policy file: model classes with prices, plans, and when the policy takes effect. */
import { z } from "zod";

const usd = z.number().min(0);

/** Prices in $ per million tokens; two decimals at most so usage units stay integers. */
const pricePerMTok = z
  .number()
  .min(0)
  .refine(
    (value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-9,
    "at most two decimals ($ per million tokens)",
  );

const tokenPrices = {
  input: pricePerMTok,
  output: pricePerMTok,
  /** 5-minute cache writes. */
  cache_write: pricePerMTok,
  /** 1-hour cache writes; twice the input price when not given (Anthropic's published rate). */
  cache_write_1h: pricePerMTok.optional(),
  cache_read: pricePerMTok,
};

export const modelClassSchema = z
  .object({
    /** Model families (as the model catalog names them) priced and limited as this class. */
    families: z.array(z.string().min(1)).min(1),
    ...tokenPrices,
    /**
     * Long-context pricing: a request whose prompt (input, cache writes and cache reads together)
     * is over `above_input_tokens` has all its tokens priced at these rates (Anthropic prices
     * prompts over 200k tokens on 1M-context models this way).
     */
    long_context: z
      .object({ above_input_tokens: z.number().int().positive(), ...tokenPrices })
      .strict()
      .optional(),
  })
  .strict();

/** The peak multiplier on usage for a window kind ("5h", or "week" for weekly ones) at an instant that is peak. */
export function peakUsageFactor(rule: PeakRule | null, window: "5h" | "week"): number {
  return rule?.mode === "multiplier" && rule.applies_to.includes(window) ? rule.factor : 1;
}

export const peakRuleSchema = z
  .object({
    time_zone: z.string().refine((zone) => {
      try {
        new Intl.DateTimeFormat("en-US", { timeZone: zone });
        return true;
      } catch {
        return false;
      }
    }, "not an IANA time zone"),
    /** ISO weekdays, 1 = Monday … 7 = Sunday. */
    weekdays: z.array(z.number().int().min(1).max(7)).min(1),
    /** Local hours [start, end): 5–11 means 05:00 to 10:59. */
    hours: z.tuple([z.number().int().min(0).max(23), z.number().int().min(1).max(24)]),
    mode: z.enum(["shrink", "multiplier"]),
    /** shrink: limits × factor (< 1); multiplier: usage × factor (> 1). */
    factor: z.number().positive(),
    /**
     * Which windows peak usage counts extra against (multiplier mode). Public descriptions of
     * the coding plans' peak-hour rule name the 5-hour limit only: weekly limits count usage
     * as it is, unless a plan says otherwise.
     */
    applies_to: z
      .array(z.enum(["5h", "week"]))
      .min(1)
      .default(["5h"]),
  })
  .strict();

const rateLimitsSchema = z
  .object({
    rpm: z.number().int().positive(),
    itpm: z.number().int().positive(),
    otpm: z.number().int().positive(),
  })
  .strict();

export const subscriptionPlanSchema = z
  .object({
    kind: z.literal("subscription"),
    description: z.string().default(""),
    priority: z.number().int().min(0).max(9),
    session_budget_usd: usd,
    weekly_budget_usd: usd,
    /** Extra weekly caps for one model family each (e.g. Max's Sonnet-only cap). */
    weekly_family_budgets_usd: z.record(z.string(), usd).default({}),
    peak: peakRuleSchema.nullable().default(null),
    reserve_max_tokens: z.boolean().default(false),
    /** What a request that fails on the service's side is charged: nothing, or the output it delivered. */
    charge_on_service_failure: z.enum(["none", "delivered"]).default("none"),
  })
  .strict();

export const apiPlanSchema = z
  .object({
    kind: z.literal("api"),
    description: z.string().default(""),
    priority: z.number().int().min(0).max(9),
    /** Per model class; `default` applies to classes not listed. */
    rate_limits: z
      .record(z.string(), rateLimitsSchema)
      .refine((limits) => "default" in limits, "needs a `default` entry"),
    concurrency: z.number().int().positive(),
    monthly_spend_usd: usd,
    reserve_max_tokens: z.boolean().default(false),
    /** What a request that fails on the service's side is charged: nothing, or the output it delivered. */
    charge_on_service_failure: z.enum(["none", "delivered"]).default("none"),
  })
  .strict();

export const planSchema = z.discriminatedUnion("kind", [subscriptionPlanSchema, apiPlanSchema]);

export const policySchema = z
  .object({
    version: z.string().regex(/^[A-Za-z0-9._-]+$/, "letters, digits, '.', '_' and '-' only"),
    effective_from: z.iso.datetime({ offset: true }),
    description: z.string().default(""),
    /** Limits × capacity(t) / baseline, when set. */
    capacity_scaling: z.object({ baseline: z.number().positive() }).strict().nullable().default(null),
    model_classes: z.record(z.string(), modelClassSchema),
    plans: z.record(z.string().regex(/^[a-z0-9-]+$/), planSchema),
  })
  .strict()
  .superRefine((policy, context) => {
    for (const [name, plan] of Object.entries(policy.plans)) {
      if (plan.kind !== "api") continue;
      for (const modelClass of Object.keys(plan.rate_limits)) {
        if (modelClass !== "default" && !(modelClass in policy.model_classes)) {
          context.addIssue({
            code: "custom",
            path: ["plans", name, "rate_limits", modelClass],
            message: "no such model class",
          });
        }
      }
    }
  });

export type ModelClass = z.infer<typeof modelClassSchema>;
export type PeakRule = z.infer<typeof peakRuleSchema>;
export type SubscriptionPlan = z.infer<typeof subscriptionPlanSchema>;
export type ApiPlan = z.infer<typeof apiPlanSchema>;
export type Plan = z.infer<typeof planSchema>;
export type Policy = z.infer<typeof policySchema>;
