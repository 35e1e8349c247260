/**
 * What the edge needs from a running gateway, by capability. The composition root
 * (`../gateway.ts`) provides them; each edge module takes only the ones it uses (`Pick`), so the
 * edge depends on these narrow shapes and never imports the gateway itself.
 */
import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { AccountStore } from "../accounts/account-store.ts";
import type { IdentityCache } from "../accounts/identity-cache.ts";
import type { AdmissionController } from "../admission/admission-controller.ts";
import type { Config } from "../config/schema.ts";
import type { Enforcer } from "../enforcement/enforcer.ts";
import type { Ledger } from "../ledger/usage-event.ts";
import type { TokenCountPool } from "../protocol/tokens/count-pool.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { ModelRouter } from "../upstreams/routing.ts";
import type { Upstream } from "../upstreams/upstream.ts";

/** A request between authentication and its ledger record, as shutdown sees it. */
export interface InFlightRequest {
  /** Set when the gateway cut this request to shut down, so the client hears why. */
  shuttingDown: boolean;
  abort(): void;
  /** The model family and decode rate it draws on, once routed (for /metrics). */
  readonly demand?: { family: string; tokensPerSecond: number } | undefined;
}

/** What this gateway's share of a fleet serves (capacity/fleet-capacity.ts × capacity.share). */
export interface FleetShare {
  /** Output tokens/s of a family at an instant (0: the fleet does not serve it). */
  tokensPerSecondAt(nowMs: number, family: string): number;
  /** Decode tokens/s of one of the family's streams, when replies pace at the fleet's speeds (else 0). */
  streamRateAt(nowMs: number, family: string): number;
}

export interface EdgeServices {
  config: Config;
  logger: Logger;
  /** Milliseconds since the epoch; injected in tests to cross windows and policy dates. */
  clock: () => number;
  accounts: AccountStore;
  /** Key → identity, remembered for a second (accounts/identity-cache.ts). */
  identities: Pick<IdentityCache, "authenticate" | "isRevoked" | "knows">;
  router: ModelRouter;
  upstreams: ReadonlyMap<string, Upstream>;
  enforcer: Enforcer;
  /** Priority load shedding per upstream that has a known capacity. */
  admission: ReadonlyMap<string, AdmissionController>;
  /** This gateway's share of the configured fleet (capacity.fleet); absent without one. */
  fleet?: FleetShare | undefined;
  metrics: Metrics;
  ledger: Ledger;
  /** Requests between authentication and their ledger record. */
  inFlight: Set<InFlightRequest>;
  /** Exact token counts; large requests off the event loop (tokens/count-pool.ts). */
  tokenCounter: Pick<TokenCountPool, "count" | "countBytes" | "close" | "waiting">;
  /** A span per request when OpenTelemetry export is configured (telemetry/tracing.ts). */
  tracer?: Tracer | undefined;
}
