/**
 * Embedded defaults: what `npm start` serves with no config file. One simulated GPU pool and a
 * catalog of the Claude model families current clients ask for, with wildcard routes so a
 * client's next default id (they change with every release) works without a config change.
 *
 * Simulation speeds are typical public figures for each class (decode tokens/s of one stream,
 * time to first token); the capacity model replaces them with fleet-derived ones.
 * `created_at` is the catalog date headroom lists, not a claim about a release date.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config, ModelConfig, SimulationProfile } from "./schema.ts";
import { limiterSchema, metricsSchema, routingSchema, serverSchema } from "./schema.ts";

const opus: SimulationProfile = {
  decode_tokens_per_s: 60,
  ttft_ms: 500,
  prefill_tokens_per_s: 12_000,
  output_tokens: 96,
};
const sonnet: SimulationProfile = {
  decode_tokens_per_s: 90,
  ttft_ms: 350,
  prefill_tokens_per_s: 20_000,
  output_tokens: 96,
};
const haiku: SimulationProfile = {
  decode_tokens_per_s: 180,
  ttft_ms: 200,
  prefill_tokens_per_s: 40_000,
  output_tokens: 96,
};

function simulatedModel(
  id: string,
  displayName: string,
  createdAt: string,
  family: "opus" | "sonnet" | "haiku" | "fable",
): ModelConfig {
  const simulation = { opus, sonnet, haiku, fable: opus }[family];
  return {
    id,
    display_name: displayName,
    created_at: `${createdAt}T00:00:00Z`,
    family,
    aliases: [],
    upstream: "simulated",
    simulation,
  };
}

export const defaultModels: ModelConfig[] = [
  simulatedModel("claude-fable-5", "Claude Fable 5", "2026-10-01", "fable"),
  simulatedModel("claude-opus-5-5", "Claude Opus 5.5", "2026-10-01", "opus"),
  simulatedModel("claude-opus-5", "Claude Opus 5", "2026-08-01", "opus"),
  simulatedModel("claude-opus-4-8", "Claude Opus 4.8", "2026-06-01", "opus"),
  simulatedModel("claude-opus-4-7", "Claude Opus 4.7", "2026-04-01", "opus"),
  simulatedModel("claude-opus-4-6", "Claude Opus 4.6", "2026-02-01", "opus"),
  simulatedModel("claude-opus-4-5", "Claude Opus 4.5", "2025-11-24", "opus"),
  simulatedModel("claude-sonnet-5-5", "Claude Sonnet 5.5", "2026-10-01", "sonnet"),
  simulatedModel("claude-sonnet-5", "Claude Sonnet 5", "2026-08-01", "sonnet"),
  simulatedModel("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-01", "sonnet"),
  simulatedModel("claude-sonnet-4-5", "Claude Sonnet 4.5", "2025-09-29", "sonnet"),
  simulatedModel("claude-haiku-5-5", "Claude Haiku 5.5", "2026-10-01", "haiku"),
  simulatedModel("claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-01", "haiku"),
];

/** The scenarios shipped with headroom, the planner's default folder. */
const SHIPPED_EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

/**
 * The fleet a start without a config file serves from: the example's (a home site, the
 * Colossus 1 deal of 2026-05-06, an orbital site in 2028), of which one laptop's simulated pool
 * stands for one part in two thousand — ≈110 concurrent streams before the deal, ≈280 after.
 * Its pools' speeds, concurrency and time to first token per family come from the capacity
 * model, the dashboard's Fleet view draws it, and policies with capacity scaling follow it.
 */
export const EMBEDDED_CAPACITY = { fleet: join(SHIPPED_EXAMPLES, "colossus-fleet.yaml"), share: 0.0005 };

export function defaultConfig(): Config {
  return {
    server: serverSchema.parse({}),
    upstreams: {
      simulated: { type: "simulated", slots: 256, queue: 1024, queue_timeout_ms: 30_000 },
    },
    models: structuredClone(defaultModels),
    routing: routingSchema.parse({}),
    limiter: limiterSchema.parse({}),
    metrics: metricsSchema.parse({}),
    planner: { scenarios_dir: SHIPPED_EXAMPLES },
    routes: [
      { match: "claude-fable-*", model: "claude-fable-5" },
      { match: "claude-opus-*", model: "claude-opus-4-8" },
      { match: "claude-sonnet-*", model: "claude-sonnet-4-6" },
      { match: "claude-haiku-*", model: "claude-haiku-4-5" },
      // Short names some clients and tools use ("opus", "sonnet", "haiku").
      { match: "opus", model: "claude-opus-4-8" },
      { match: "sonnet", model: "claude-sonnet-4-6" },
      { match: "haiku", model: "claude-haiku-4-5" },
      // OpenAI clients (the Codex CLI asks for gpt-5.5 and its siblings) are served by the
      // Sonnet class and counted against its limits; a config routes them elsewhere.
      { match: "gpt-*", model: "claude-sonnet-4-6", send_as: "model" },
      { match: "codex-*", model: "claude-sonnet-4-6", send_as: "model" },
      { match: "o1*", model: "claude-sonnet-4-6", send_as: "model" },
      { match: "o3*", model: "claude-sonnet-4-6", send_as: "model" },
      { match: "o4*", model: "claude-sonnet-4-6", send_as: "model" },
    ],
  };
}
