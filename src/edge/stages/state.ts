/**
 * What the request-path stages read and write of one request (exchange.ts holds it): typed
 * here, apart from the class, so the stages and the exchange do not import each other.
 */
import type { Span } from "@opentelemetry/api";
import type { KeyIdentity } from "../../accounts/account-store.ts";
import type { Admission } from "../../enforcement/enforcer.ts";
import type { UsageMeter } from "../../protocol/usage-meter.ts";
import type { ResolvedModel } from "../../upstreams/upstream.ts";
import type { EdgeServices, InFlightRequest } from "../services.ts";

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

export interface RequestState extends InFlightRequest {
  readonly services: ExchangeServices;
  readonly requestId: string;
  readonly identity: KeyIdentity;
  readonly endpoint: "anthropic" | "openai";
  readonly streamed: boolean;
  readonly controller: AbortController;
  readonly meter: UsageMeter;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  /** The clock reading when the request arrived: the policy's instant and the ledger's at_ms. */
  readonly startedAtMs: number;
  readonly span: Span | undefined;
  model: ResolvedModel | undefined;
  inputTokens: number;
  admission: Admission | undefined;
  rateLimitHeaders: Record<string, string>;
  releaseCapacity: (() => void) | undefined;
  firstTokenAt: number | null;
}
