/** Prometheus metrics (GET /metrics): traffic, tokens, shedding and demand per upstream. */
import { Counter, Gauge, Registry } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "headroom_requests_total",
    help: "Requests after authentication, by endpoint, model and HTTP status",
    labelNames: ["endpoint", "model", "status"] as const,
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: "headroom_tokens_total",
    help: "Tokens served, by kind (input, output, cache_write, cache_read) and model",
    labelNames: ["kind", "model"] as const,
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
    help: "Requests answered 429 by the limiter, by plan",
    labelNames: ["plan"] as const,
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
}
