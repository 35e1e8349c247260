/**
 * Where a limiter decision meets the wire, once: the rate-limit headers of a granted request in
 * the client's protocol, and a Refusal as that protocol's 429 — retry-after from the refusal's
 * own reading (none for a used-up spend cap: usage resumes at the period's start, and a
 * retry-after would only send clients into retries that cannot succeed), x-should-retry, the
 * unified headers Claude Code reads for subscription plans, and the stable error code.
 */
import { HeadroomError, SPEND_LIMIT_REACHED } from "../common/errors.ts";
import type { Admission, Refusal } from "../enforcement/enforcer.ts";
import {
  anthropicRateLimitHeaders,
  openAIRateLimitHeaders,
  unifiedRateLimitHeaders,
} from "../protocol/rate-limit-headers.ts";

export type Endpoint = "anthropic" | "openai";

/** SDKs retry 429s; beyond a minute (a 5-hour or weekly limit) retrying only burns attempts. */
const SHOULD_RETRY_WITHIN_MS = 60_000;

/** The rate-limit headers of a decision in the client's protocol. */
export function limitHeaders(
  admission: Admission,
  endpoint: Endpoint,
  /** The window that refused, for a refusal's headers. */
  refusedBy?: string,
): Record<string, string> {
  const headers =
    endpoint === "anthropic"
      ? anthropicRateLimitHeaders(admission.decision)
      : openAIRateLimitHeaders(admission.decision);
  // Claude Code reads the unified family for subscription plans (their windows, not credits').
  if (endpoint === "anthropic" && admission.limits.plan.kind === "subscription" && !admission.onCredits)
    Object.assign(headers, unifiedRateLimitHeaders(admission.decision, refusedBy));
  if (admission.onCredits) headers["headroom-usage-credits"] = "in-use";
  return headers;
}

/** A refusal as the client's 429. */
export function refusalError(refusal: Refusal, endpoint: Endpoint): HeadroomError {
  const { retryAfterMs, spendCap, binding } = refusal;
  const headers = limitHeaders(refusal.admission, endpoint, binding.name);
  if (retryAfterMs !== null && !spendCap) {
    headers["retry-after"] = String(Math.ceil(retryAfterMs / 1000));
    headers["retry-after-ms"] = String(retryAfterMs);
  }
  headers["x-should-retry"] =
    !spendCap && retryAfterMs !== null && retryAfterMs <= SHOULD_RETRY_WITHIN_MS ? "true" : "false";
  return new HeadroomError(spendCap ? "spend_limit_reached" : "rate_limited", refusal.message, {
    headers,
    dimension: binding.name,
    ...(spendCap ? { details: { error_code: SPEND_LIMIT_REACHED } } : {}),
  });
}
