/**
 * The built-in policy, in force when no policy has been applied. Modelled on the public plans
 * (../shared/spec/api.md): prices of late-2025 Claude models, the classic API usage tiers, and
 * subscription plans as they stand after 6 May 2026 (5-hour limits doubled, no peak-hour
 * reduction). Exact subscription budgets are not published; the dollar budgets here are sized so
 * a Pro session holds roughly 90 typical coding-agent turns on a Sonnet-class model after the
 * doubling (45 before), as the public guidance suggests.
 */
import { type Policy, policySchema } from "./schema.ts";

const rates = (rpm: number, itpm: number, otpm: number) => ({ rpm, itpm, otpm });

export const defaultPolicy: Policy = policySchema.parse({
  version: "builtin",
  effective_from: "1970-01-01T00:00:00Z",
  description: "Built-in defaults: public plan shapes, 5-hour limits after the May 2026 doubling",
  model_classes: {
    opus: { families: ["opus", "fable"], input: 5, output: 25, cache_write: 6.25, cache_read: 0.5 },
    sonnet: {
      families: ["sonnet"],
      input: 3,
      output: 15,
      cache_write: 3.75,
      cache_read: 0.3,
      // Prompts over 200k tokens on the 1M-context window (Anthropic's published Sonnet rates).
      long_context: {
        above_input_tokens: 200_000,
        input: 6,
        output: 22.5,
        cache_write: 7.5,
        cache_write_1h: 12,
        cache_read: 0.6,
      },
    },
    haiku: { families: ["haiku"], input: 1, output: 5, cache_write: 1.25, cache_read: 0.1 },
  },
  plans: {
    pro: {
      kind: "subscription",
      description: "Pro",
      priority: 3,
      session_budget_usd: 2.4,
      weekly_budget_usd: 20,
    },
    "max-5x": {
      kind: "subscription",
      description: "Max 5x: five times Pro per session",
      priority: 4,
      session_budget_usd: 12,
      weekly_budget_usd: 100,
      weekly_family_budgets_usd: { sonnet: 80 },
    },
    "max-20x": {
      kind: "subscription",
      description: "Max 20x: twenty times Pro per session",
      priority: 5,
      session_budget_usd: 48,
      weekly_budget_usd: 400,
      weekly_family_budgets_usd: { sonnet: 320 },
    },
    "api-tier-1": {
      kind: "api",
      description: "Tier 1 ($5 credit purchase)",
      priority: 2,
      rate_limits: { default: rates(50, 30_000, 8_000), haiku: rates(50, 50_000, 10_000) },
      concurrency: 10,
      monthly_spend_usd: 100,
    },
    "api-tier-2": {
      kind: "api",
      description: "Tier 2 ($40 credit purchase)",
      priority: 2,
      rate_limits: { default: rates(1_000, 450_000, 90_000), haiku: rates(1_000, 450_000, 90_000) },
      concurrency: 50,
      monthly_spend_usd: 500,
    },
    "api-tier-3": {
      kind: "api",
      description: "Tier 3 ($200 credit purchase)",
      priority: 3,
      rate_limits: { default: rates(2_000, 800_000, 160_000), haiku: rates(2_000, 1_000_000, 200_000) },
      concurrency: 100,
      monthly_spend_usd: 1_000,
    },
    "api-tier-4": {
      kind: "api",
      description: "Tier 4 ($400 credit purchase)",
      priority: 4,
      rate_limits: { default: rates(4_000, 2_000_000, 400_000), haiku: rates(4_000, 4_000_000, 800_000) },
      concurrency: 200,
      monthly_spend_usd: 5_000,
    },
    priority: {
      kind: "api",
      description: "Priority Tier: tier-4 limits, served first under load",
      priority: 9,
      rate_limits: { default: rates(4_000, 2_000_000, 400_000) },
      concurrency: 400,
      monthly_spend_usd: 50_000,
    },
  },
});
