/** The admin API's what the gateway is doing now: the overview and the live view (one file per resource; admin-api.ts composes them). */
import { z } from "zod";
import { familyLoad } from "../family-load.ts";
import type { AdminServices } from "./admin-shared.ts";
import { type AdminRoute, route } from "./routes.ts";

export function liveRoutes(services: AdminServices): AdminRoute[] {
  return [
    route({
      method: "GET",
      path: "/overview",
      summary: "One snapshot for the dashboard: demand against capacity per family, traffic so far, latency",
      tag: "live",
      response: z.object({
        at: z.number(),
        families: z.array(
          z.object({
            family: z.string(),
            demand_tokens_per_second: z.number(),
            capacity_tokens_per_second: z.number().nullable(),
          }),
        ),
        requests: z.object({ total: z.number(), rate_limited: z.number(), overloaded: z.number() }),
        latency_ms: z.object({ p50: z.number().nullable(), p99: z.number().nullable() }),
      }),
      handler: async () => {
        const requests = (await services.metrics.requests.get()).values;
        const count = (status?: string) =>
          requests
            .filter((value) => status === undefined || String(value.labels.status) === status)
            .reduce((sum, value) => sum + value.value, 0);
        return {
          at: services.clock(),
          families: familyLoad(services).map((load) => ({
            family: load.family,
            demand_tokens_per_second: load.demandTokensPerSecond,
            capacity_tokens_per_second: load.capacityTokensPerSecond ?? null,
          })),
          requests: { total: count(), rate_limited: count("429"), overloaded: count("529") },
          latency_ms: await latencyQuantiles(services),
        };
      },
    }),
    route({
      method: "GET",
      path: "/live",
      summary: "Live state: requests in flight, admission per upstream, deployments, limiter and ledger",
      tag: "live",
      response: z.object({
        in_flight: z.number(),
        limiter: z.string(),
        /** Deciding on the store, or without it while it does not answer (limiter.on_store_failure). */
        limiter_state: z.enum(["up", "failing open", "failing closed"]),
        ledger: z.object({ pending: z.number(), saturated: z.boolean(), unavailable: z.string().nullable() }),
        upstreams: z.array(
          z.object({
            name: z.string(),
            in_flight: z.number(),
            effective_capacity: z.number(),
            shed: z.number(),
          }),
        ),
        deployments: z.array(
          z.object({
            model: z.string(),
            deployment: z.string(),
            state: z.string(),
            in_flight: z.number(),
            free: z.number().nullable(),
            first_byte_ms: z.number().nullable(),
          }),
        ),
      }),
      handler: async () => ({
        in_flight: services.inFlight.size,
        limiter: services.limiterKind,
        limiter_state:
          services.limiterStore === undefined || services.limiterStore.isUp
            ? ("up" as const)
            : services.config.limiter.on_store_failure === "open"
              ? ("failing open" as const)
              : ("failing closed" as const),
        ledger: {
          pending: services.ledger.pending,
          saturated: services.ledger.saturated,
          unavailable: services.ledger.unavailable ?? null,
        },
        upstreams: [...services.admission].map(([upstream, controller]) => {
          const stats = controller.stats(0);
          return {
            name: upstream,
            in_flight: stats.inFlight,
            effective_capacity: stats.effectiveCapacity,
            shed: stats.shed,
          };
        }),
        deployments: [...services.upstreams.values()].flatMap((upstream) =>
          (upstream.deploymentHealth?.() ?? []).map((health) => ({
            model: health.model,
            deployment: health.deployment,
            state: health.state,
            in_flight: health.inFlight,
            free: health.free ?? null,
            first_byte_ms: health.latencyMs ?? null,
          })),
        ),
      }),
    }),
  ];
}

/** p50 and p99 of request duration from the histogram's buckets (each the bucket's upper bound). */
async function latencyQuantiles(
  services: AdminServices,
): Promise<{ p50: number | null; p99: number | null }> {
  const buckets = new Map<number, number>();
  for (const value of (await services.metrics.duration.get()).values) {
    if (!value.metricName?.endsWith("_bucket")) continue;
    const bound = Number((value.labels as Record<string, string | number>).le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value.value);
  }
  const ordered = [...buckets].sort(([a], [b]) => a - b);
  const total = ordered.at(-1)?.[1] ?? 0;
  const quantile = (q: number) => {
    if (total === 0) return null;
    const found = ordered.find(([, cumulative]) => cumulative >= q * total);
    return found && Number.isFinite(found[0]) ? found[0] * 1000 : null;
  };
  return { p50: quantile(0.5), p99: quantile(0.99) };
}
