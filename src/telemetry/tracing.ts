/**
 * OpenTelemetry traces: one span per generation request following the GenAI semantic
 * conventions (gen_ai.operation.name, gen_ai.request.model, gen_ai.usage.*) plus headroom's own
 * attributes (plan, limiter decision, deployment, the reason of a 429 or 529). Exported over
 * OTLP/HTTP (JSON) when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set — headers
 * and timeouts from the standard OTEL_* variables — and nothing at all when it is not: no provider, no
 * span objects, no cost on the request path. Nothing is registered globally, so two gateways
 * in one process (tests) never share a tracer.
 */
import { type Span, SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import type { HeadroomEnv } from "../config/env.ts";

export interface Tracing {
  /** Undefined when tracing is off: callers skip all span work. */
  tracer: Tracer | undefined;
  /** Sends what is buffered and stops (gateway shutdown). */
  shutdown(): Promise<void>;
}

export function createTracing(
  env: Pick<
    HeadroomEnv,
    "OTEL_EXPORTER_OTLP_ENDPOINT" | "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" | "OTEL_SERVICE_NAME"
  >,
  /** Tests pass the SDK's in-memory exporter; spans are then handed over as each one ends. */
  exporter?: SpanExporter,
): Tracing {
  // The signal-specific variable is the whole URL; the general one is a base (OTLP spec).
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, "");
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base}/v1/traces` : undefined);
  if (!exporter && !url) return { tracer: undefined, shutdown: async () => {} };
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME }),
    spanProcessors: [
      exporter
        ? new SimpleSpanProcessor({ exporter })
        : new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }) }),
    ],
  });
  return { tracer: provider.getTracer("headroom"), shutdown: () => provider.shutdown() };
}

/** What a request's span records, filled in as the request goes through the pipeline. */
export interface RequestSpanFacts {
  model?: string;
  upstream?: string;
  maxTokens?: number;
  plan: string;
  account: string;
  endpoint: string;
  streamed: boolean;
  requestId: string;
}

export function startRequestSpan(tracer: Tracer, facts: RequestSpanFacts): Span {
  return tracer.startSpan(`chat ${facts.model ?? ""}`.trim(), {
    kind: SpanKind.SERVER,
    attributes: {
      "gen_ai.operation.name": "chat",
      "headroom.plan": facts.plan,
      "headroom.account": facts.account,
      "headroom.endpoint": facts.endpoint,
      "headroom.request_id": facts.requestId,
      "headroom.stream": facts.streamed,
    },
  });
}

export interface RequestOutcome {
  status: number;
  errorType: string | null;
  errorMessage?: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  stopReason: string | null;
  /** "admitted", "refused", or "not reached" (failed before the limiter). */
  decision: "admitted" | "refused" | "not reached";
}

export function endRequestSpan(span: Span, outcome: RequestOutcome): void {
  span.setAttributes({
    "http.response.status_code": outcome.status,
    "gen_ai.usage.input_tokens": outcome.inputTokens,
    "gen_ai.usage.output_tokens": outcome.outputTokens,
    "gen_ai.usage.cache_read.input_tokens": outcome.cacheReadTokens,
    "gen_ai.usage.cache_creation.input_tokens": outcome.cacheWriteTokens,
    "headroom.limiter.decision": outcome.decision,
  });
  if (outcome.stopReason) span.setAttribute("gen_ai.response.finish_reasons", [outcome.stopReason]);
  if (outcome.errorType) span.setAttribute("error.type", outcome.errorType);
  // Why a request was turned away is what an operator looks for: the limit it hit, or shedding.
  if ((outcome.status === 429 || outcome.status === 529) && outcome.errorMessage)
    span.setAttribute("headroom.refusal", outcome.errorMessage);
  if (outcome.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.errorType ?? "" });
  span.end();
}
