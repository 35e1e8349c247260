/**
 * One request's state after authentication, shared by the Anthropic and OpenAI endpoints: what
 * the stages (stages/: route, shed, limit, call, outcome; composed in pipeline.ts) learn and
 * hold — the model, the limiter's grant, the meter watching the reply, the span — so that the
 * outcome is recorded exactly once, whether the response completed, failed, or the client left.
 */
import type { Span } from "@opentelemetry/api";
import type { KeyIdentity } from "../accounts/account-store.ts";
import type { Admission } from "../enforcement/enforcer.ts";
import type { SseEvent } from "../protocol/anthropic.ts";
import { UsageMeter } from "../protocol/usage-meter.ts";
import { startRequestSpan } from "../telemetry/tracing.ts";
import type { ResolvedModel } from "../upstreams/upstream.ts";
import { type Failure, recordOutcome } from "./stages/outcome.ts";
import type { ExchangeServices, RequestState } from "./stages/state.ts";

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

export class Exchange implements RequestState {
  readonly controller = new AbortController();
  readonly meter = new UsageMeter();
  readonly startedAt = performance.now();
  /** The clock reading when the request arrived: the policy's instant and the ledger's at_ms. */
  readonly startedAtMs: number;
  /** This request's trace span, when tracing is on. */
  readonly span: Span | undefined;
  /** Set by the route stage. */
  model: ResolvedModel | undefined;
  /** Prompt tokens estimated by the limit stage (tokens/estimate.ts). */
  inputTokens = 0;
  /** The limiter's grant, once admitted (limit stage). */
  admission: Admission | undefined;
  /** Rate-limit headers for the response, once admitted. */
  rateLimitHeaders: Record<string, string> = {};
  /** Gives back the capacity slot the shed stage took. */
  releaseCapacity: (() => void) | undefined;
  firstTokenAt: number | null = null;
  /** Set when the gateway cut this request to shut down, so the client hears why. */
  shuttingDown = false;
  /** Set once the exchange is finished: the ledger row's durability. */
  private recorded: Promise<void> | undefined;

  constructor(
    readonly services: ExchangeServices,
    readonly requestId: string,
    readonly identity: KeyIdentity,
    readonly endpoint: "anthropic" | "openai",
    readonly streamed: boolean,
  ) {
    this.startedAtMs = services.clock();
    services.inFlight.add(this);
    this.span =
      services.tracer &&
      startRequestSpan(services.tracer, {
        plan: identity.plan,
        account: identity.account,
        endpoint,
        streamed,
        requestId,
      });
  }

  observe(event: SseEvent): void {
    if (this.firstTokenAt === null && event.event === "content_block_delta") {
      this.firstTokenAt = performance.now();
    }
    this.meter.observe(event);
  }

  /** Cuts the upstream (client gone, shutdown). Safe to call more than once. */
  abort(): void {
    if (!this.controller.signal.aborted) this.controller.abort();
  }

  /** The model family and decode rate this request draws on, while in flight (for /metrics). */
  get demand(): { family: string; tokensPerSecond: number } | undefined {
    const entry = this.model?.entry;
    return entry && { family: entry.family, tokensPerSecond: entry.simulation?.decode_tokens_per_s ?? 0 };
  }

  /**
   * The outcome stage, once (stages/outcome.ts). Resolves when the ledger row is durable:
   * callers hold back the response's final byte until then.
   */
  finish(status: number, error?: Failure): Promise<void> {
    if (this.recorded) return this.recorded;
    this.recorded = recordOutcome(this, status, error);
    return this.recorded;
  }
}
