/**
 * The 429's message, in the user's terms and in one sentence: Claude Code shows an API-key user
 * the message verbatim and nothing else (spec/api.md §8.5). It names the limit (the window, or
 * the rate, and whose it is), what is used or left of it against what, in the unit the plan
 * counts (dollars of API-priced usage, tokens, requests), when it resets, and whether usage
 * credits could continue the work. The numbers are those of the refusing decision, the same
 * state the limits endpoint and the rate-limit headers read.
 */
import type { DimensionResult } from "../limits/dimension.ts";
import { LEVEL_PREFIX, type Level } from "../plans/level-limits.ts";
import type { PlanLimits } from "../plans/plan-limits.ts";
import { UNITS_PER_USD } from "../plans/usage-units.ts";
import { rfc3339 } from "../protocol/rate-limit-headers.ts";

const RATE_WORDS: Record<string, string> = {
  rpm: "requests per minute",
  itpm: "input tokens per minute",
  otpm: "output tokens per minute",
  concurrency: "requests in flight",
};

const LEVEL_WORDS: Record<Level, { noun: string; spend: string }> = {
  organisation: { noun: "organisation", spend: "Organisation spend limit" },
  team: { noun: "team", spend: "Team budget" },
  key: { noun: "key", spend: "Key budget" },
};

/**
 * Whether a window is a spend cap (an API plan's monthly spend, usage credits, an organisation's,
 * team's or key's own budget) rather than a subscription's usage window: a used-up spend cap
 * is answered as Anthropic does (spec/api.md §5.7), without retry-after.
 */
export function isSpendCap(limits: PlanLimits, name: string): boolean {
  const level = levelOf(name);
  const rest = level?.rest ?? name;
  if (RATE_WORDS[rest]) return false;
  const usageWindow =
    rest === "5h" ||
    rest.startsWith("week-") ||
    (rest === "week" && (level === undefined || limits.levelPlans?.[level.level] !== undefined));
  return !usageWindow;
}

/** What usage credits could do for a refused subscription request. */
export type CreditsState = "not applicable" | "off" | "used up";

export interface RefusalFacts {
  limits: PlanLimits;
  /** The dimension that refused (the one admitting latest). */
  binding: DimensionResult;
  /** What this request would cost on that dimension, in its unit. */
  needed: number;
  retryAfterMs: number | null;
  credits: CreditsState;
}

/** The level a dimension belongs to, from its name's prefix (level-limits.ts), if any. */
export function levelOf(name: string): { level: Level; rest: string } | undefined {
  for (const level of Object.keys(LEVEL_PREFIX) as Level[]) {
    const prefix = `${LEVEL_PREFIX[level]}-`;
    if (name.startsWith(prefix)) return { level, rest: name.slice(prefix.length) };
  }
  return undefined;
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Dollars as a person reads them: to the cent, or two significant digits below a cent. */
export function dollars(units: number): string {
  const usd = Math.max(0, units) / UNITS_PER_USD;
  if (usd === 0 || usd >= 0.005)
    return `$${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  return `$${Number(usd.toPrecision(2))}`;
}

const count = (value: number) => Math.max(0, Math.round(value)).toLocaleString("en-US");

/** Whose limit a dimension is: the plan's, or an organisation's, team's or key's (with its plan). */
function whoOf(limits: PlanLimits, name: string): string {
  const level = levelOf(name);
  if (!level) return `plan ${limits.planName}`;
  const named = `${LEVEL_WORDS[level.level].noun} ${limits.levelNames?.[level.level] ?? ""}`.trim();
  const plan = limits.levelPlans?.[level.level];
  return plan ? `${named}, plan ${plan}` : named;
}

/** A window's name: "5-hour limit", "Weekly Opus limit", "The team's 5-hour limit", "Team budget (monthly)". */
function windowTitle(limits: PlanLimits, name: string): string {
  const level = levelOf(name);
  if (!level) {
    if (name === "5h") return "5-hour limit";
    if (name === "week") return "Weekly limit";
    if (name.startsWith("week-")) return `Weekly ${capitalize(name.slice(5))} limit`;
    return "Monthly spend limit";
  }
  const words = LEVEL_WORDS[level.level];
  const owner = `The ${words.noun}'s`;
  const hasPlan = limits.levelPlans?.[level.level] !== undefined;
  if (level.rest === "5h") return `${owner} 5-hour limit`;
  if (level.rest === "week" && hasPlan) return `${owner} weekly limit`;
  if (level.rest.startsWith("week-")) return `${owner} weekly ${capitalize(level.rest.slice(5))} limit`;
  return `${words.spend} (${level.rest === "week" ? "weekly" : "monthly"})`;
}

function creditsClause(credits: CreditsState): string {
  if (credits === "off") return "; usage credits are off for this account";
  if (credits === "used up") return "; this month's usage credits are used up too";
  return "";
}

export function refusalMessage({ limits, binding, needed, retryAfterMs, credits }: RefusalFacts): string {
  const who = whoOf(limits, binding.name);
  const rest = levelOf(binding.name)?.rest ?? binding.name;
  const rateWords = RATE_WORDS[rest];
  if (rateWords) {
    // "1 request in flight", "1 output token per minute": the unit agrees with the number.
    const words =
      binding.limit === 1
        ? rateWords.replace(/^(requests|input tokens|output tokens)/, (plural) => plural.slice(0, -1))
        : rateWords;
    const rate = `Rate limit of ${count(binding.limit)} ${words}`;
    if (retryAfterMs === null)
      return `${rate} (${who}): this request alone needs ${count(needed)}; it cannot be admitted.`;
    const retry = `retry after ${Math.ceil(retryAfterMs / 1000)} s`;
    if (binding.remaining <= 0 || rest === "concurrency") return `${rate} exceeded (${who}); ${retry}.`;
    return `${rate} (${who}): this request needs ${count(needed)}, ${count(binding.remaining)} left; ${retry}.`;
  }
  const title = windowTitle(limits, binding.name);
  const limit = dollars(binding.limit);
  if (retryAfterMs === null)
    return `${title} (${who}): this request alone needs about ${dollars(needed)}, more than the whole ${limit}; it cannot be admitted.`;
  const tail = `resets at ${rfc3339(binding.resetAtMs)}${creditsClause(credits)}.`;
  if (binding.remaining <= 0)
    return `${title} reached: ${dollars(binding.limit - binding.remaining)} of ${limit} used (${who}), ${tail}`;
  return `${title}: this request needs about ${dollars(needed)}, ${dollars(binding.remaining)} of ${limit} is left (${who}), ${tail}`;
}
