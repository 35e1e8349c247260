/**
 * Rate-limit headers in each endpoint's dialect, from one limiter decision.
 * Anthropic (https://docs.anthropic.com/en/api/rate-limits): anthropic-ratelimit-{requests,
 * tokens,input-tokens,output-tokens}-{limit,remaining,reset}, resets in RFC 3339.
 * OpenAI (https://platform.openai.com/docs/guides/rate-limits): x-ratelimit-{limit,remaining,
 * reset}-{requests,tokens}, resets as durations ("1s", "6m0s").
 * Every dimension, subscription windows included, also appears as headroom-ratelimit-<name>-*.
 */
import type { Decision, DimensionResult } from "../limits/dimension.ts";

/** RFC 3339 to the second. Resets repeat across requests, so recent ones are remembered. */
const isoCache = new Map<number, string>();
const iso = (ms: number): string => {
  const second = Math.floor(ms / 1000);
  let text = isoCache.get(second);
  if (text === undefined) {
    text = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    if (isoCache.size >= 4096) isoCache.clear();
    isoCache.set(second, text);
  }
  return text;
};

/** OpenAI's duration format: 20ms, 1s, 6m0s, 1h2m3s. */
export function openAIDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  let seconds = Math.ceil(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

function find(decision: Decision, name: string): DimensionResult | undefined {
  return decision.dimensions.find((dimension) => dimension.name === name);
}

/** The token dimension closer to exhaustion, as Anthropic's combined tokens-* headers report. */
function tighterTokens(decision: Decision): DimensionResult | undefined {
  const input = find(decision, "itpm");
  const output = find(decision, "otpm");
  if (!input || !output) return input ?? output;
  return input.remaining / input.limit <= output.remaining / output.limit ? input : output;
}

export function anthropicRateLimitHeaders(decision: Decision): Record<string, string> {
  const headers: Record<string, string> = {};
  const put = (prefix: string, dimension: DimensionResult | undefined) => {
    if (!dimension) return;
    headers[`${prefix}-limit`] = String(dimension.limit);
    headers[`${prefix}-remaining`] = String(dimension.remaining);
    headers[`${prefix}-reset`] = iso(dimension.resetAtMs);
  };
  put("anthropic-ratelimit-requests", find(decision, "rpm"));
  put("anthropic-ratelimit-tokens", tighterTokens(decision));
  put("anthropic-ratelimit-input-tokens", find(decision, "itpm"));
  put("anthropic-ratelimit-output-tokens", find(decision, "otpm"));
  for (const dimension of decision.dimensions) put(`headroom-ratelimit-${dimension.name}`, dimension);
  return headers;
}

/** Resets as durations from the decision's own instant (its store's clock). */
export function openAIRateLimitHeaders(decision: Decision): Record<string, string> {
  const headers: Record<string, string> = {};
  const put = (suffix: string, dimension: DimensionResult | undefined) => {
    if (!dimension) return;
    headers[`x-ratelimit-limit-${suffix}`] = String(dimension.limit);
    headers[`x-ratelimit-remaining-${suffix}`] = String(dimension.remaining);
    headers[`x-ratelimit-reset-${suffix}`] = openAIDuration(dimension.resetAtMs - decision.atMs);
  };
  put("requests", find(decision, "rpm"));
  put("tokens", tighterTokens(decision));
  for (const dimension of decision.dimensions) {
    headers[`headroom-ratelimit-${dimension.name}-limit`] = String(dimension.limit);
    headers[`headroom-ratelimit-${dimension.name}-remaining`] = String(dimension.remaining);
    headers[`headroom-ratelimit-${dimension.name}-reset`] = iso(dimension.resetAtMs);
  }
  return headers;
}

export { iso as rfc3339 };

/** The claim names Claude Code reads in `anthropic-ratelimit-unified-representative-claim`. */
function claimOf(name: string): string | undefined {
  if (name === "5h") return "five_hour";
  if (name === "week") return "seven_day";
  if (name.startsWith("week-")) return `seven_day_${name.slice(5)}`;
  return undefined;
}

/** Utilisation at which a subscription's status turns to `allowed_warning`. */
export const UNIFIED_WARNING_UTILIZATION = 0.8;

const epochSeconds = (ms: number) => String(Math.floor(ms / 1000));
const utilization = (dimension: DimensionResult) =>
  dimension.limit > 0
    ? Math.min(1, Math.max(0, (dimension.limit - dimension.remaining) / dimension.limit))
    : 1;

/**
 * Subscription plans' `anthropic-ratelimit-unified-*` family (spec/api.md §5.3, §8.5): status,
 * 5-hour and 7-day utilisation (0–1) and resets (epoch seconds), and the representative claim —
 * the window that refused, or else the most used — whose reset is `-unified-reset`.
 */
export function unifiedRateLimitHeaders(decision: Decision, refusedBy?: string): Record<string, string> {
  const headers: Record<string, string> = {};
  // The refusing window if it is one of the plan's own (an organisation's or team's is not a
  // claim Claude Code knows), else the most used.
  let representative = refusedBy !== undefined && claimOf(refusedBy) ? find(decision, refusedBy) : undefined;
  if (!representative)
    for (const dimension of decision.dimensions)
      if (
        claimOf(dimension.name) &&
        (!representative || utilization(dimension) > utilization(representative))
      )
        representative = dimension;
  if (!representative) return headers;
  const session = find(decision, "5h");
  const week = find(decision, "week");
  const most = Math.max(...decision.dimensions.filter((d) => claimOf(d.name)).map(utilization));
  headers["anthropic-ratelimit-unified-status"] =
    refusedBy !== undefined
      ? "rejected"
      : most >= UNIFIED_WARNING_UTILIZATION
        ? "allowed_warning"
        : "allowed";
  headers["anthropic-ratelimit-unified-reset"] = epochSeconds(representative.resetAtMs);
  headers["anthropic-ratelimit-unified-representative-claim"] = claimOf(representative.name) as string;
  if (session) {
    headers["anthropic-ratelimit-unified-5h-utilization"] = String(Number(utilization(session).toFixed(4)));
    headers["anthropic-ratelimit-unified-5h-reset"] = epochSeconds(session.resetAtMs);
  }
  if (week) {
    headers["anthropic-ratelimit-unified-7d-utilization"] = String(Number(utilization(week).toFixed(4)));
    headers["anthropic-ratelimit-unified-7d-reset"] = epochSeconds(week.resetAtMs);
  }
  return headers;
}
