/**
 * One request's life after authentication, shared by the Anthropic and OpenAI endpoints:
 * resolve the model, call its upstream, watch the usage in the reply, and record the outcome
 * in the ledger exactly once — whether the response completed, failed, or the client left.
 */

import type { Span } from "@opentelemetry/api";
import type { KeyIdentity } from "../accounts/account-store.ts";
import { HeadroomError, invalidRequest, overloaded } from "../common/errors.ts";
import { type Admission, isRefusal } from "../enforcement/enforcer.ts";
import { type Billing, billingOf, chargedTokens } from "../ledger/billing.ts";
import type { MessagesRequest, SseEvent } from "../protocol/anthropic.ts";
import { estimateRequestTokens } from "../protocol/tokens/estimate.ts";
import { UsageMeter } from "../protocol/usage-meter.ts";
import { endRequestSpan, startRequestSpan } from "../telemetry/tracing.ts";
import { routeModel } from "../upstreams/routing.ts";
import type { MessageCall, MessageReply, ResolvedModel } from "../upstreams/upstream.ts";
import { limitHeaders, refusalError } from "./limit-headers.ts";
import type { EdgeServices, InFlightRequest } from "./services.ts";

/** nginx's convention for "client closed the connection before the response completed". */
export const CLIENT_CLOSED = 499;

/** Client headers forwarded to real upstreams unchanged. */
const FORWARDED_HEADERS = ["anthropic-version", "anthropic-beta"] as const;

export function forwardedHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  const forwarded: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = headers[name];
    if (typeof value === "string") forwarded[name] = value;
    else if (Array.isArray(value)) forwarded[name] = value.join(",");
  }
  return forwarded;
}

/** What one exchange uses of the gateway. */
export type ExchangeServices = Pick<
  EdgeServices,
  | "clock"
  | "inFlight"
  | "router"
  | "upstreams"
  | "enforcer"
  | "admission"
  | "metrics"
  | "ledger"
  | "logger"
  | "tracer"
>;

/** The abort reason once an exchange is over (named like an abort, so abort handling applies). */
const FINISHED = Object.freeze(Object.assign(new Error("The exchange is over."), { name: "AbortError" }));

export class Exchange implements InFlightRequest {
  readonly controller = new AbortController();
  readonly meter = new UsageMeter();
  readonly startedAt = performance.now();
  readonly startedAtMs: number;
  model: ResolvedModel | undefined;
  /** The limiter's decision for this request, once admitted. */
  admission: Admission | undefined;
  /** Rate-limit headers for the response, once admitted. */
  rateLimitHeaders: Record<string, string> = {};
  private firstTokenAt: number | null = null;
  /** Set once the exchange is finished: the ledger row's durability. */
  private recorded: Promise<void> | undefined;
  /** This request's trace span, when tracing is on. */
  private readonly span: Span | undefined;

  constructor(
    private readonly gateway: ExchangeServices,
    readonly requestId: string,
    readonly identity: KeyIdentity,
    readonly endpoint: "anthropic" | "openai",
    readonly streamed: boolean,
  ) {
    this.startedAtMs = gateway.clock();
    gateway.inFlight.add(this);
    this.span =
      gateway.tracer &&
      startRequestSpan(gateway.tracer, {
        plan: identity.plan,
        account: identity.account,
        endpoint,
        streamed,
        requestId,
      });
  }

  /**
   * Resolves the model and starts the upstream call. Errors here still get an HTTP status.
   * `rawBody` is the client's JSON text when it is `body` unchanged: sent as is when the model
   * id needs no rewriting, which spares serializing a large prompt again.
   */
  async open(
    body: MessagesRequest,
    headers: Record<string, string>,
    rawBody?: Uint8Array,
    native?: MessageCall["native"],
  ): Promise<MessageReply> {
    const { model, upstream } = routeModel(this.gateway.router, this.gateway.upstreams, body.model);
    this.model = model;
    const untranslatable = native?.untranslatable;
    if (untranslatable && !upstream.speaks?.(native.protocol))
      throw invalidRequest(untranslatable.message, untranslatable.param);
    const span = this.span;
    if (span) {
      span.updateName(`chat ${model.requested}`);
      span.setAttributes({
        "gen_ai.request.model": model.requested,
        "gen_ai.request.max_tokens": body.max_tokens,
        "headroom.upstream": model.upstream,
        "headroom.model_family": model.entry.family,
      });
    }
    const inputTokens = estimateRequestTokens(body);
    const { enforcer } = this.gateway;
    // The clock reading taken when the request arrived (the ledger's at_ms) chooses the policy
    // and the plan's limits, and one plan lookup serves both shedding and the limiter. The
    // limiter store decides at its own clock: the same injected one in memory, Redis's TIME
    // when shared, so gateways on several hosts agree.
    const nowMs = this.startedAtMs;
    const limits = enforcer.limitsFor(this.identity, model.entry.family, nowMs);
    this.admitToCapacity(model, limits.plan.priority);
    const admission = enforcer.admit(
      this.identity,
      limits,
      nowMs,
      body.max_tokens,
      inputTokens,
      this.requestId,
    );
    const outcome = admission instanceof Promise ? await admission : admission;
    if (isRefusal(outcome)) throw refusalError(outcome, this.endpoint);
    this.admission = outcome;
    this.rateLimitHeaders = limitHeaders(outcome, this.endpoint);
    const renamed = model.upstreamModel !== body.model;
    return upstream.createMessage({
      body: renamed ? { ...body, model: model.upstreamModel } : body,
      rawBody: renamed ? undefined : rawBody,
      model,
      inputTokens,
      headers,
      signal: this.controller.signal,
      placed: span && ((deployment) => span.setAttribute("headroom.deployment", deployment)),
      native,
    });
  }

  /** Sheds the request (529) when its upstream is short of capacity for its priority. */
  private admitToCapacity(model: ResolvedModel, priority: number): void {
    const controller = this.gateway.admission.get(model.upstream);
    if (!controller) return;
    const tokensPerSecond = model.entry.simulation?.decode_tokens_per_s ?? 0;
    const release = controller.tryAdmit(priority, tokensPerSecond);
    if (!release) {
      this.gateway.metrics.shed.inc({ upstream: model.upstream, priority });
      throw overloaded(
        `${model.requested} is short of capacity right now; lower-priority traffic is being shed. Retry shortly.`,
        1,
      );
    }
    this.releaseCapacity = release;
  }

  private releaseCapacity: (() => void) | undefined;

  observe(event: SseEvent): void {
    if (this.firstTokenAt === null && event.event === "content_block_delta") {
      this.firstTokenAt = performance.now();
    }
    this.meter.observe(event);
  }

  /** Set when the gateway cut this request to shut down, so the client hears why. */
  shuttingDown = false;

  /** Cuts the upstream (client gone, shutdown). Safe to call more than once. */
  abort(): void {
    if (!this.controller.signal.aborted) this.controller.abort();
  }

  private countMetrics(
    status: number,
    error: HeadroomError | string | null | undefined,
    elapsedMs: number,
  ): void {
    const { metrics } = this.gateway;
    const model = this.model?.requested ?? "-";
    const plan = this.identity.plan;
    metrics.requests.inc({ endpoint: this.endpoint, model, plan, status });
    metrics.duration.observe({ endpoint: this.endpoint, model }, elapsedMs / 1000);
    if (this.firstTokenAt !== null)
      metrics.timeToFirstToken.observe({ model }, (this.firstTokenAt - this.startedAt) / 1000);
    const refusal = error instanceof HeadroomError && error.type === "rate_limit_error" && !this.admission;
    if (this.model && (this.admission || refusal))
      metrics.limiterDecisions.inc({ decision: this.admission ? "admitted" : "refused", plan });
    if (status === 429 && refusal) metrics.rateLimited.inc({ plan, dimension: error.dimension ?? "-" });
    // Past our own admission, a 529 is the upstream's own overload (shedding never admits).
    if (status === 529 && this.admission && this.model)
      metrics.upstreamOverloaded.inc({ upstream: this.model.upstream });
    const usage = this.meter.usage;
    if (usage.input_tokens > 0) metrics.tokens.inc({ kind: "input", model, plan }, usage.input_tokens);
    if (this.meter.outputTokens > 0)
      metrics.tokens.inc({ kind: "output", model, plan }, this.meter.outputTokens);
    if (usage.cache_creation_input_tokens > 0)
      metrics.tokens.inc({ kind: "cache_write", model, plan }, usage.cache_creation_input_tokens);
    if (usage.cache_read_input_tokens > 0)
      metrics.tokens.inc({ kind: "cache_read", model, plan }, usage.cache_read_input_tokens);
  }

  /** The model family and decode rate this request draws on, while in flight (for /metrics). */
  get demand(): { family: string; tokensPerSecond: number } | undefined {
    const entry = this.model?.entry;
    return entry && { family: entry.family, tokensPerSecond: entry.simulation?.decode_tokens_per_s ?? 0 };
  }

  /**
   * Records the outcome once and releases everything the request held. Resolves when the
   * ledger row is durable: callers hold back the response's final byte until then.
   */
  finish(status: number, error?: HeadroomError | string | null): Promise<void> {
    if (this.recorded) return this.recorded;
    this.release(status, error);
    // One clock reading for the metrics, the log line and the ledger row.
    const elapsedMs = performance.now() - this.startedAt;
    this.countMetrics(status, error, elapsedMs);
    const errorType = error instanceof HeadroomError ? error.type : (error ?? this.meter.errorType);
    const billing = billingOf(status, this.admission?.limits.plan.charge_on_service_failure);
    this.settle(billing);
    this.log(status, errorType, elapsedMs);
    if (this.span) {
      endRequestSpan(this.span, {
        status,
        errorType,
        errorMessage: error instanceof HeadroomError ? error.message : undefined,
        inputTokens: this.meter.usage.input_tokens,
        outputTokens: this.meter.outputTokens,
        cacheReadTokens: this.meter.usage.cache_read_input_tokens,
        cacheWriteTokens: this.meter.usage.cache_creation_input_tokens,
        stopReason: this.meter.stopReason,
        decision: this.admission ? "admitted" : status === 429 ? "refused" : "not reached",
      });
    }
    // Our own refusal names the limit that refused; an upstream's 429 does not.
    const limitedBy =
      status === 429 && error instanceof HeadroomError && error.type === "rate_limit_error" && !this.admission
        ? (error.dimension ?? null)
        : null;
    this.recorded = this.record(status, errorType, elapsedMs, billing, limitedBy);
    return this.recorded;
  }

  /** Lets go of the upstream, the in-flight set and the capacity slot; tells admission how it went. */
  private release(status: number, error: HeadroomError | string | null | undefined): void {
    // A shared abort reason: building a DOMException on every request was 3% of the gateway's
    // time under load.
    if (!this.controller.signal.aborted) this.controller.abort(FINISHED);
    this.gateway.inFlight.delete(this);
    this.releaseCapacity?.();
    const controller = this.model && this.gateway.admission.get(this.model.upstream);
    if (controller && this.admission) {
      // Past our own limiter, a 429 or 529 is the upstream saying it holds less than we thought.
      if (status === 200) controller.upstreamSucceeded();
      else if (error instanceof HeadroomError && (error.status === 529 || error.status === 429))
        controller.upstreamOverloaded();
    }
  }

  /**
   * Charges the limiter for what was produced, as `billing` says: a stream the client cut pays
   * for the tokens it got; one the service failed pays nothing (or its delivered output), and
   * the refund lands in the same store as the estimate's charge, so every gateway sees it.
   */
  private settle(billing: Billing): void {
    if (!this.admission) return;
    const actual = chargedTokens({ ...this.meter.usage, output_tokens: this.meter.outputTokens }, billing);
    const failed = (failure: unknown) =>
      this.gateway.logger.error({ err: failure, request_id: this.requestId }, "reconcile failed");
    try {
      this.gateway.enforcer.settle(this.admission, actual)?.catch(failed);
    } catch (failure) {
      // The ledger row must still be written.
      failed(failure);
    }
  }

  /** One line per exchange with its usage; streamed replies bypass Fastify's onResponse log. */
  private log(status: number, errorType: string | null, elapsedMs: number): void {
    this.gateway.logger.info(
      {
        request_id: this.requestId,
        account: this.identity.account,
        model: this.model?.requested,
        status,
        error_type: errorType,
        input_tokens: this.meter.usage.input_tokens,
        output_tokens: this.meter.outputTokens,
        ms: Math.round(elapsedMs),
      },
      "usage",
    );
  }

  /** The ledger row, exactly once per exchange. */
  private record(
    status: number,
    errorType: string | null,
    elapsedMs: number,
    billing: Billing,
    limitedBy: string | null,
  ): Promise<void> {
    const usage = this.meter.usage;
    return this.gateway.ledger.record({
      at_ms: this.startedAtMs,
      request_id: this.requestId,
      account: this.identity.account,
      key_id: this.identity.keyId,
      model: this.model?.requested ?? null,
      endpoint: this.endpoint,
      streamed: this.streamed,
      status,
      error_type: errorType,
      stop_reason: this.meter.stopReason,
      input_tokens: usage.input_tokens,
      output_tokens: this.meter.outputTokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      cache_creation_1h_input_tokens: usage.cache_creation_1h_input_tokens ?? 0,
      ttft_ms: this.firstTokenAt === null ? null : this.firstTokenAt - this.startedAt,
      duration_ms: elapsedMs,
      on_credits: this.admission?.onCredits ?? false,
      billing,
      limited_by: limitedBy,
    });
  }
}
