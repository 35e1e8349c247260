/**
 * Stage 5, outcome: what happens once a request ends, however it ended (complete, failed, the
 * client gone), exactly once — release what it held, count its metrics, settle the limiter with
 * the actual usage, log one line, end its span, and write its ledger row. The returned promise
 * is the row's durability: callers hold the response's last byte until it resolves.
 */
import { HeadroomError } from "../../common/errors.ts";
import { type Billing, billingOf, chargedTokens } from "../../ledger/billing.ts";
import type { UsageEvent } from "../../ledger/usage-event.ts";
import { endRequestSpan } from "../../telemetry/tracing.ts";
import type { RequestState } from "./state.ts";

/** The abort reason once an exchange is over (named like an abort, so abort handling applies). */
const FINISHED = Object.freeze(Object.assign(new Error("The exchange is over."), { name: "AbortError" }));

export type Failure = HeadroomError | string | null | undefined;

export function recordOutcome(exchange: RequestState, status: number, error: Failure): Promise<void> {
  release(exchange, status, error);
  // One clock reading for the metrics, the log line and the ledger row.
  const elapsedMs = performance.now() - exchange.startedAt;
  countMetrics(exchange, status, error, elapsedMs);
  const errorType = error instanceof HeadroomError ? error.type : (error ?? exchange.meter.errorType);
  const billing = billingOf(status, exchange.admission?.limits.plan.charge_on_service_failure);
  settle(exchange, billing);
  log(exchange, status, errorType, elapsedMs);
  if (exchange.span) {
    endRequestSpan(exchange.span, {
      status,
      errorType,
      errorMessage: error instanceof HeadroomError ? error.message : undefined,
      inputTokens: exchange.meter.usage.input_tokens,
      outputTokens: exchange.meter.outputTokens,
      cacheReadTokens: exchange.meter.usage.cache_read_input_tokens,
      cacheWriteTokens: exchange.meter.usage.cache_creation_input_tokens,
      stopReason: exchange.meter.stopReason,
      decision: exchange.admission ? "admitted" : status === 429 ? "refused" : "not reached",
    });
  }
  return exchange.services.ledger.record(ledgerRow(exchange, status, error, errorType, elapsedMs, billing));
}

/** Lets go of the upstream, the in-flight set and the capacity slot; tells admission how it went. */
function release(exchange: RequestState, status: number, error: Failure): void {
  const { services, model } = exchange;
  // A shared abort reason: building a DOMException on every request was 3% of the gateway's
  // time under load.
  if (!exchange.controller.signal.aborted) exchange.controller.abort(FINISHED);
  services.inFlight.delete(exchange);
  exchange.releaseCapacity?.();
  const controller = model && services.admission.get(model.upstream);
  if (controller && exchange.admission) {
    // Past our own limiter, a 429 or 529 is the upstream saying it holds less than we thought.
    if (status === 200) controller.upstreamSucceeded();
    else if (error instanceof HeadroomError && (error.status === 529 || error.status === 429))
      controller.upstreamOverloaded();
  }
}

/** Our own refusal: a 429 from the limiter, before anything was admitted. */
const refusedHere = (exchange: RequestState, error: Failure): error is HeadroomError =>
  error instanceof HeadroomError && error.type === "rate_limit_error" && !exchange.admission;

function countMetrics(exchange: RequestState, status: number, error: Failure, elapsedMs: number): void {
  const { metrics } = exchange.services;
  const { endpoint, meter } = exchange;
  const model = exchange.model?.requested ?? "-";
  const plan = exchange.identity.plan;
  metrics.requests.inc({ endpoint, model, plan, status });
  metrics.duration.observe({ endpoint, model }, elapsedMs / 1000);
  if (exchange.firstTokenAt !== null)
    metrics.timeToFirstToken.observe({ model }, (exchange.firstTokenAt - exchange.startedAt) / 1000);
  const refusal = refusedHere(exchange, error);
  if (exchange.model && (exchange.admission || refusal))
    metrics.limiterDecisions.inc({ decision: exchange.admission ? "admitted" : "refused", plan });
  if (status === 429 && refusal) metrics.rateLimited.inc({ plan, dimension: error.dimension ?? "-" });
  // Past our own admission, a 529 is the upstream's own overload (shedding never admits).
  if (status === 529 && exchange.admission && exchange.model)
    metrics.upstreamOverloaded.inc({ upstream: exchange.model.upstream });
  const usage = meter.usage;
  if (usage.input_tokens > 0) metrics.tokens.inc({ kind: "input", model, plan }, usage.input_tokens);
  if (meter.outputTokens > 0) metrics.tokens.inc({ kind: "output", model, plan }, meter.outputTokens);
  if (usage.cache_creation_input_tokens > 0)
    metrics.tokens.inc({ kind: "cache_write", model, plan }, usage.cache_creation_input_tokens);
  if (usage.cache_read_input_tokens > 0)
    metrics.tokens.inc({ kind: "cache_read", model, plan }, usage.cache_read_input_tokens);
}

/**
 * Charges the limiter for what was produced, as `billing` says: a stream the client cut pays
 * for the tokens it got; one the service failed pays nothing (or its delivered output), and
 * the refund lands in the same store as the estimate's charge, so every gateway sees it.
 */
function settle(exchange: RequestState, billing: Billing): void {
  const { admission, meter, services } = exchange;
  if (!admission) return;
  const actual = chargedTokens({ ...meter.usage, output_tokens: meter.outputTokens }, billing);
  const failed = (failure: unknown) =>
    services.logger.error({ err: failure, request_id: exchange.requestId }, "reconcile failed");
  try {
    services.enforcer.settle(admission, actual)?.catch(failed);
  } catch (failure) {
    // The ledger row must still be written.
    failed(failure);
  }
}

/** One line per exchange with its usage; streamed replies bypass Fastify's onResponse log. */
function log(exchange: RequestState, status: number, errorType: string | null, elapsedMs: number): void {
  exchange.services.logger.info(
    {
      request_id: exchange.requestId,
      account: exchange.identity.account,
      model: exchange.model?.requested,
      status,
      error_type: errorType,
      input_tokens: exchange.meter.usage.input_tokens,
      output_tokens: exchange.meter.outputTokens,
      ms: Math.round(elapsedMs),
    },
    "usage",
  );
}

/** The exchange's ledger row. Our own refusal names the limit that refused; an upstream's 429 does not. */
export function ledgerRow(
  exchange: RequestState,
  status: number,
  error: Failure,
  errorType: string | null,
  elapsedMs: number,
  billing: Billing,
): UsageEvent {
  const { meter, identity } = exchange;
  const usage = meter.usage;
  return {
    at_ms: exchange.startedAtMs,
    request_id: exchange.requestId,
    account: identity.account,
    key_id: identity.keyId,
    model: exchange.model?.requested ?? null,
    endpoint: exchange.endpoint,
    streamed: exchange.streamed,
    status,
    error_type: errorType,
    stop_reason: meter.stopReason,
    input_tokens: usage.input_tokens,
    output_tokens: meter.outputTokens,
    cache_creation_input_tokens: usage.cache_creation_input_tokens,
    cache_read_input_tokens: usage.cache_read_input_tokens,
    cache_creation_1h_input_tokens: usage.cache_creation_1h_input_tokens ?? 0,
    ttft_ms: exchange.firstTokenAt === null ? null : exchange.firstTokenAt - exchange.startedAt,
    duration_ms: elapsedMs,
    on_credits: exchange.admission?.onCredits ?? false,
    billing,
    limited_by: status === 429 && refusedHere(exchange, error) ? (error.dimension ?? null) : null,
  };
}
