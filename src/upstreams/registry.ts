/** Builds the configured upstreams by name, and a balancer for each model with deployments or fallbacks. */

import { type Config, deploymentsUpstreamName, isBalanced, servingUpstream } from "../config/schema.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { AnthropicUpstream } from "./anthropic.ts";
import { DeploymentBalancer, type DeploymentTarget } from "./deployments.ts";
import { OpenAICompatibleUpstream } from "./openai-compatible.ts";
import { type FleetSizing, SimulatedUpstream } from "./simulated.ts";
import type { Upstream } from "./upstream.ts";

export interface UpstreamOptions {
  clock?: () => number;
  metrics?: Metrics;
  /** Uniform in [0, 1), for the balancers' weighted draws (tests inject a seeded one). */
  random?: () => number;
}

export function createUpstreams(
  config: Config,
  env: NodeJS.ProcessEnv,
  fleet?: FleetSizing,
  options: UpstreamOptions = {},
): Map<string, Upstream> {
  const upstreams = new Map<string, Upstream>();
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    switch (upstream.type) {
      case "simulated":
        upstreams.set(name, new SimulatedUpstream(name, upstream, fleet));
        break;
      case "anthropic":
        upstreams.set(name, new AnthropicUpstream(name, upstream, env));
        break;
      case "openai":
        upstreams.set(name, new OpenAICompatibleUpstream(name, upstream, env));
        break;
    }
  }
  /** A configured upstream as a deployment: what it can hold at once, when known. */
  const target = (name: string, weight: number, upstreamModel?: string): DeploymentTarget => {
    const upstream = upstreams.get(name);
    if (!upstream) throw new Error(`No upstream named ${name} is configured.`);
    const spec = config.upstreams[name];
    const capacity =
      upstream instanceof SimulatedUpstream
        ? () => upstream.pool.slots - upstream.pool.inFlight - upstream.pool.queued
        : spec && spec.type !== "simulated" && spec.capacity_concurrency !== undefined
          ? () => spec.capacity_concurrency
          : undefined;
    return { name, upstream, weight, upstreamModel, capacity };
  };
  for (const model of config.models) {
    if (!isBalanced(model)) continue;
    const deployments = (model.deployments ?? [{ upstream: model.upstream, weight: 1 }]).map((deployment) =>
      target(
        deployment.upstream,
        deployment.weight,
        "upstream_model" in deployment ? deployment.upstream_model : undefined,
      ),
    );
    const fallbacks = () =>
      (model.fallbacks ?? []).flatMap((id) => {
        const entry = config.models.find((candidate) => candidate.id === id);
        const upstream = entry && upstreams.get(servingUpstream(entry));
        if (!entry || !upstream) return [];
        return [
          { name: id, model: id, upstream, weight: 1, upstreamModel: entry.upstream_model ?? entry.id },
        ];
      });
    upstreams.set(
      deploymentsUpstreamName(model.id),
      new DeploymentBalancer(deploymentsUpstreamName(model.id), model.id, deployments, fallbacks, {
        ...config.routing,
        clock: options.clock ?? Date.now,
        random: options.random,
        metrics: options.metrics,
      }),
    );
  }
  return upstreams;
}
