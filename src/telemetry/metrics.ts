/**
 * Prometheus metrics (GET /metrics): traffic and tokens by model, plan and status; latency and
 * time to first token; limiter decisions, refusals by dimension and store errors; shedding and
 * upstream overload; demand against capacity per upstream and model family; deployments; the
 * ledger's buffer.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "headroom_requests_total",
    help: "Requests after authentication, by endpoint, model, plan and HTTP status",
    labelNames: ["endpoint", "model", "plan", "status"] as const,
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: "headroom_tokens_total",
    help: "Tokens served, by kind (input, output, cache_write, cache_read), model and plan",
    labelNames: ["kind", "model", "plan"] as const,
    registers: [this.registry],
  });
  readonly shed = new Counter({
    name: "headroom_shed_total",
    help: "Requests answered 529 by priority load shedding, by upstream and priority",
    labelNames: ["upstream", "priority"] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: "headroom_rate_limited_total",
    help: "Requests answered 429 by the limiter, by plan and the dimension that refused",
    labelNames: ["plan", "dimension"] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: "headroom_upstream_in_flight",
    help: "Requests in flight per upstream",
    labelNames: ["upstream"] as const,
    registers: [this.registry],
  });
  readonly demand = new Gauge({
    name: "headroom_upstream_demand_tokens_per_second",
    help: "Decode demand in flight per upstream (tokens/s)",
    labelNames: ["upstream"] as const,
    registers: [this.registry],
  });

  readonly ledgerBuffered = new Gauge({
    name: "headroom_ledger_buffered_events",
    help: "Usage events recorded but not yet written to the ledger's store (grows while it is down)",
    registers: [this.registry],
  });

  readonly deploymentAttempts = new Counter({
    name: "headroom_deployment_attempts_total",
    help: "Calls to a model's deployments (and fallback models), by outcome: ok, failed (retried or given up), aborted",
    labelNames: ["model", "deployment", "outcome"],
    registers: [this.registry],
  });

  readonly fallbacks = new Counter({
    name: "headroom_fallbacks_total",
    help: "Requests served by a configured fallback model after every deployment of theirs failed",
    labelNames: ["model", "fallback"],
    registers: [this.registry],
  });

  readonly breakerOpen = new Gauge({
    name: "headroom_deployment_breaker_open",
    help: "1 while a deployment's circuit breaker keeps traffic away from it",
    labelNames: ["model", "deployment"],
    registers: [this.registry],
  });

  readonly firstByte = new Gauge({
    name: "headroom_deployment_first_byte_seconds",
    help: "A deployment's time to first byte, moving average (passive latency health)",
    labelNames: ["model", "deployment"],
    registers: [this.registry],
  });

  readonly duration = new Histogram({
    name: "headroom_request_duration_seconds",
    help: "Time from authentication to the ledger record, by endpoint and model",
    labelNames: ["endpoint", "model"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });

  readonly timeToFirstToken = new Histogram({
    name: "headroom_time_to_first_token_seconds",
    help: "Time from authentication to the first output delta, by model",
    labelNames: ["model"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
    registers: [this.registry],
  });

  readonly limiterDecisions = new Counter({
    name: "headroom_limiter_decisions_total",
    help: "Limiter decisions, by outcome (admitted, refused) and plan",
    labelNames: ["decision", "plan"],
    registers: [this.registry],
  });

  readonly limiterStoreErrors = new Counter({
    name: "headroom_limiter_store_errors_total",
    help: "Limiter store calls that failed (Redis unreachable or slow)",
    registers: [this.registry],
  });

  readonly limiterStoreUp = new Gauge({
    name: "headroom_limiter_store_up",
    help: "1 while the shared limiter store answers, 0 while the gateway fails open or closed without it",
    registers: [this.registry],
  });

  readonly limiterStoreOutages = new Counter({
    name: "headroom_limiter_store_outages_total",
    help: "Times the shared limiter store stopped answering (each ends when a probe gets an answer)",
    registers: [this.registry],
  });

  readonly lostRequestsRefunded = new Counter({
    name: "headroom_lost_requests_refunded_total",
    help: "Requests whose gateway died before they settled, their charges refunded by a sweep (shared limiter store)",
    registers: [this.registry],
  });

  readonly upstreamOverloaded = new Counter({
    name: "headroom_upstream_overloaded_total",
    help: "Requests answered 529 because the upstream said it was overloaded, by upstream",
    labelNames: ["upstream"],
    registers: [this.registry],
  });

  readonly familyDemand = new Gauge({
    name: "headroom_family_demand_tokens_per_second",
    help: "Decode demand of the requests in flight, by model family (tokens/s)",
    labelNames: ["family"],
    registers: [this.registry],
  });

  readonly familyCapacity = new Gauge({
    name: "headroom_family_capacity_tokens_per_second",
    help: "Decode capacity of the upstreams serving a model family, where known (tokens/s)",
    labelNames: ["family"],
    registers: [this.registry],
  });
}
