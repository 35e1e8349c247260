/**
 * Stage 3, limit: the request's estimated usage against every dimension of its limits in one
 * decision (enforcement/enforcer.ts). A grant gives the response its rate-limit headers; a
 * refusal becomes the client's 429 here, the one place (limit-headers.ts). The limiter store
 * decides at its own clock: the injected one in memory, Redis's TIME when shared.
 */
import { isRefusal } from "../../enforcement/enforcer.ts";
import type { MessagesRequest } from "../../protocol/anthropic.ts";
import { estimateRequestTokens } from "../../protocol/tokens/estimate.ts";
import { limitHeaders, refusalError } from "../limit-headers.ts";
import type { Routed } from "./route.ts";
import type { RequestState } from "./state.ts";

/** Resolves once admitted (at once, with no promise, on an in-process store); throws the 429. */
export function limit(
  exchange: RequestState,
  { limits }: Routed,
  body: MessagesRequest,
): void | Promise<void> {
  const inputTokens = estimateRequestTokens(body);
  exchange.inputTokens = inputTokens;
  const outcome = exchange.services.enforcer.admit(
    exchange.identity,
    limits,
    exchange.startedAtMs,
    body.max_tokens,
    inputTokens,
    exchange.requestId,
  );
  const conclude = (decided: Awaited<typeof outcome>) => {
    if (isRefusal(decided)) throw refusalError(decided, exchange.endpoint);
    exchange.admission = decided;
    exchange.rateLimitHeaders = limitHeaders(decided, exchange.endpoint);
  };
  return outcome instanceof Promise ? outcome.then(conclude) : conclude(outcome);
}
