/** Builds the configured upstreams by name. */
import type { Config } from "../config/schema.ts";
import { AnthropicUpstream } from "./anthropic.ts";
import { OpenAICompatibleUpstream } from "./openai-compatible.ts";
import { type FleetSizing, SimulatedUpstream } from "./simulated.ts";
import type { Upstream } from "./upstream.ts";

export function createUpstreams(
  config: Config,
  env: NodeJS.ProcessEnv,
  fleet?: FleetSizing,
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
  return upstreams;
}
