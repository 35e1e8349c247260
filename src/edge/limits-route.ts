/**
 * GET /v1/headroom/limits[?model=ID]: a key reads its own limits — plan, policy in force, and
 * for each dimension its limit, what remains and when it resets — without consuming anything
 * or starting a window. Like Claude Code's /usage, for any client.
 */
import type { FastifyInstance } from "fastify";
import { UNITS_PER_USD } from "../plans/usage-units.ts";
import { rfc3339 } from "../protocol/rate-limit-headers.ts";
import { routeModel } from "../upstreams/routing.ts";
import { identityOf } from "./auth.ts";
import type { EdgeServices } from "./services.ts";

const UNITS: Record<string, string> = {
  rpm: "requests",
  itpm: "input tokens",
  otpm: "output tokens",
  concurrency: "requests",
};

export function registerLimitsRoute(
  app: FastifyInstance,
  gateway: Pick<EdgeServices, "identities" | "enforcer" | "router" | "upstreams">,
): void {
  app.get<{ Querystring: { model?: string } }>("/v1/headroom/limits", async (request) => {
    const identity = identityOf(request);
    const family = request.query.model
      ? routeModel(gateway.router, gateway.upstreams, request.query.model).model.entry.family
      : "sonnet";
    const { limits, decision } = await gateway.enforcer.peek(identity, family);
    return {
      account: identity.account,
      plan: limits.planName,
      policy: limits.policyVersion,
      model_class: limits.modelClass,
      peak: limits.peak,
      limits: decision.dimensions.map((dimension) => {
        const isUsage = !(dimension.name in UNITS);
        // A dry run counts itself as one more request in flight; the view should not.
        const remaining = dimension.name === "concurrency" ? dimension.remaining + 1 : dimension.remaining;
        return {
          name: dimension.name,
          unit: isUsage ? "usd" : UNITS[dimension.name],
          limit: isUsage ? dimension.limit / UNITS_PER_USD : dimension.limit,
          remaining: isUsage ? remaining / UNITS_PER_USD : remaining,
          used_fraction: dimension.limit > 0 ? Math.round((1 - remaining / dimension.limit) * 1e4) / 1e4 : 0,
          resets_at: rfc3339(dimension.resetAtMs),
        };
      }),
    };
  });
}
