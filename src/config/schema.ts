/**
 * The shape of headroom's configuration file (YAML). Parsed once at start; everything after
 * trusts the inferred types. Keys are snake_case as in the YAML a person edits.
 */
import { isIP } from "node:net";
import { z } from "zod";

const positiveInt = z.number().int().positive();

/** An IP address, a CIDR range, or one of proxy-addr's names for a kind of private range. */
function isProxyAddress(text: string): boolean {
  if (["loopback", "linklocal", "uniquelocal"].includes(text)) return true;
  const [address = "", bits, extra] = text.split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

export const serverSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8787),
    data_dir: z.string().min(1).default(".headroom"),
    /** The Messages API refuses bodies over 32 MB with 413 request_too_large. */
    body_limit_mb: z.number().positive().default(32),
    /** How long in-flight streams may run on after SIGINT/SIGTERM before they are cut. */
    shutdown_grace_ms: z.number().int().min(0).default(10_000),
    /** Invalid keys one source address may send per minute before it gets 429 for unknown keys. */
    bad_key_limit_per_minute: positiveInt.default(30),
    /**
     * Load balancers whose X-Forwarded-For is believed (addresses, CIDR ranges, or loopback /
     * linklocal / uniquelocal): the client's address is then the nearest one no trusted proxy
     * added. Empty (the default): the socket's peer is the client and the header is ignored.
     */
    trusted_proxies: z
      .array(z.string().refine(isProxyAddress, "an IP address or CIDR range, e.g. 10.0.0.0/8"))
      .default([]),
    /** A client must send its request line and headers within this (slowloris). */
    headers_timeout_ms: positiveInt.default(10_000),
    /** A client must send its whole request, body included, within this. */
    request_timeout_ms: positiveInt.default(60_000),
    log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .strict();

export const simulatedUpstreamSchema = z
  .object({
    type: z.literal("simulated"),
    /** Sequences decoded at once across the pool (a GPU pool's batch slots). */
    slots: positiveInt.default(256),
    /** Requests that may wait for a slot; beyond this the pool answers 529. */
    queue: z.number().int().min(0).default(1024),
    queue_timeout_ms: positiveInt.default(30_000),
  })
  .strict();

const httpUpstreamFields = {
  url: z.url(),
  /** The key sent upstream; prefer api_key_env so secrets stay out of files. */
  api_key: z.string().min(1).optional(),
  api_key_env: z.string().min(1).optional(),
  /** Time allowed for a whole non-streaming reply (its headers come when it is done). */
  timeout_ms: positiveInt.default(600_000),
  /** Time allowed to open a connection to the upstream. */
  connect_timeout_ms: positiveInt.default(10_000),
  /** A stream's first event (headers included) must arrive within this. */
  first_byte_timeout_ms: positiveInt.default(120_000),
  /** A stream is cut when no complete event arrives for this long (a trickle of bytes does not count). */
  idle_timeout_ms: positiveInt.default(120_000),
  /** Concurrent requests the upstream serves well; above it lower priorities are shed (529). */
  capacity_concurrency: positiveInt.optional(),
};

export const anthropicUpstreamSchema = z
  .object({ type: z.literal("anthropic"), ...httpUpstreamFields })
  .strict();

export const openAIUpstreamSchema = z
  .object({
    type: z.literal("openai"),
    ...httpUpstreamFields,
    /**
     * The server also serves the Responses API (POST …/responses): Responses requests go to it
     * as the client sent them, unknown fields kept, and its events come back untouched.
     */
    responses: z.boolean().optional(),
  })
  .strict();

export const upstreamSchema = z.discriminatedUnion("type", [
  simulatedUpstreamSchema,
  anthropicUpstreamSchema,
  openAIUpstreamSchema,
]);

export const simulationProfileSchema = z
  .object({
    /** Decode speed of one sequence, tokens per second. */
    decode_tokens_per_s: z.number().positive(),
    /** Time to first token for a short prompt. */
    ttft_ms: z.number().min(0),
    /** Prefill speed: a long prompt adds input_tokens / prefill_tokens_per_s to the TTFT. */
    prefill_tokens_per_s: z.number().positive().default(20_000),
    /** Typical reply length when the prompt does not ask for one (capped by max_tokens). */
    output_tokens: positiveInt.default(96),
  })
  .strict();

export const deploymentSchema = z
  .object({
    /** A configured upstream serving this model (a site, a region, a provider account). */
    upstream: z.string().min(1),
    /** Share of traffic among healthy deployments when capacity does not decide. */
    weight: z.number().positive().default(1),
    /** The id this deployment knows the model by; by default the model's. */
    upstream_model: z.string().min(1).optional(),
  })
  .strict();

/** The upstream name a model with several deployments is served under (upstreams/deployments.ts). */
export const deploymentsUpstreamName = (modelId: string) => `deployments:${modelId}`;

/** Whether a model needs the deployment balancer: several deployments, or fallback models. */
export const isBalanced = (model: {
  deployments?: unknown[] | undefined;
  fallbacks?: string[] | undefined;
}) => model.deployments !== undefined || (model.fallbacks?.length ?? 0) > 0;

/** The upstream a request for this model goes to: its own, or its balancer. */
export const servingUpstream = (
  model: { id: string; upstream: string } & Parameters<typeof isBalanced>[0],
) => (isBalanced(model) ? deploymentsUpstreamName(model.id) : model.upstream);

export const modelSchema = z
  .object({
    id: z.string().min(1),
    display_name: z.string().min(1),
    created_at: z.iso.datetime(),
    family: z.string().min(1),
    aliases: z.array(z.string().min(1)).default([]),
    /** The one upstream serving this model; or list several under `deployments`. */
    upstream: z.string().min(1).optional(),
    deployments: z.array(deploymentSchema).min(1).optional(),
    /** Models tried, in order, when every deployment of this one failed before any output. */
    fallbacks: z.array(z.string().min(1)).optional(),
    /** The id sent upstream; by default the id the client asked for. */
    upstream_model: z.string().min(1).optional(),
    simulation: simulationProfileSchema.optional(),
  })
  .strict()
  .refine((model) => (model.upstream === undefined) !== (model.deployments === undefined), {
    message: "give either upstream or deployments",
    path: ["upstream"],
  })
  .transform((model) => ({ ...model, upstream: model.upstream ?? deploymentsUpstreamName(model.id) }));

export const routingSchema = z
  .object({
    /**
     * How a model's deployments are ordered: `capacity` prefers the one with the most free
     * capacity right now (known for simulated pools and upstreams with capacity_concurrency),
     * weights breaking ties; `weighted` draws by weight alone.
     */
    strategy: z.enum(["capacity", "weighted"]).default("capacity"),
    /** Further attempts after a failure before the first output byte (next deployment each time). */
    retries: z.number().int().min(0).max(10).default(2),
    /** Base of the exponential backoff between attempts (full jitter), capped at 2 s. */
    backoff_ms: z.number().int().min(0).default(100),
    /** Consecutive failures that open a deployment's circuit breaker. */
    breaker_failures: positiveInt.default(5),
    /** How long an open breaker keeps traffic away before one trial request. */
    breaker_cooldown_ms: positiveInt.default(30_000),
    /**
     * Active health checks: every this many ms each network deployment is probed (GET its
     * /v1/models); a failed probe counts against its breaker, a good one closes it. 0 = off.
     */
    health_check_interval_ms: z.number().int().min(0).default(0),
    /**
     * Passive latency health: a deployment whose first byte takes longer than this counts a
     * failure against its breaker (the answer is still used), so a site that has become slow
     * is taken out of rotation like one that fails. 0 = off.
     */
    slow_after_ms: z.number().int().min(0).default(0),
    /** How long a probe may take before it counts as failed. */
    health_check_timeout_ms: positiveInt.default(5_000),
  })
  .strict();

export const routeSchema = z
  .object({
    /** A glob over model ids: `*` matches any run of characters. */
    match: z.string().min(1),
    /** Serve matching ids like this catalog model (its upstream and simulation profile). */
    model: z.string().min(1),
    /**
     * The id the upstream receives: the client's (`requested`: a newer dated id of the same
     * family passes through) or the catalog model's (`model`: another vendor's id, such as the
     * Codex CLI's gpt-5.5, served by this model).
     */
    send_as: z.enum(["requested", "model"]).optional(),
  })
  .strict();

export const limiterSchema = z
  .object({
    /** While the shared limiter store (Redis) cannot answer: decide locally, or refuse with 503. */
    on_store_failure: z.enum(["open", "closed"]).default("open"),
    /** How often a store that stopped answering is asked whether it is back. */
    probe_interval_ms: positiveInt.default(1_000),
    /**
     * How long a request's concurrency slot outlives its gateway: leases are kept alive every
     * third of this while their request runs, so a crashed gateway's slots free within it.
     */
    concurrency_lease_ms: z.number().int().min(1_000).default(60_000),
  })
  .strict();

export const metricsSchema = z
  .object({
    /** Who may scrape /metrics on the main port: the admin token's holder (Bearer), or anyone. */
    access: z.enum(["admin_token", "open"]).default("admin_token"),
    /** Also serve /metrics, open, on this host:port only (an address scrapers reach and clients do not). */
    listen: z
      .string()
      .regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "host:port, e.g. 127.0.0.1:9464")
      .optional(),
  })
  .strict();

export const capacitySchema = z
  .object({
    /** Fleet file (YAML) whose capacity timeline sizes the simulated pool and scales policies. */
    fleet: z.string().min(1),
    /** Share of the fleet this gateway's simulated pool stands for (a laptop runs a sliver of it). */
    share: z.number().gt(0).max(1).default(0.0001),
    /**
     * fleet: simulated replies decode and prefill at the fleet's speeds; models: at each model's
     * own `simulation` speeds (a demo or load test that must not wait), the fleet still sizing
     * the pool and scaling the policies.
     */
    speeds: z.enum(["fleet", "models"]).default("fleet"),
  })
  .strict();

export const plannerSchema = z
  .object({
    /**
     * The only folder the admin API's and dashboard's planner reads scenarios from (a path in
     * the file is relative to it). Default: the examples shipped with headroom.
     */
    scenarios_dir: z.string().min(1),
  })
  .strict();

export const configFileSchema = z
  .object({
    server: serverSchema.partial().optional(),
    upstreams: z.record(z.string().min(1), upstreamSchema).optional(),
    models: z.array(modelSchema).optional(),
    routes: z.array(routeSchema).optional(),
    capacity: capacitySchema.optional(),
    planner: plannerSchema.optional(),
    routing: routingSchema.partial().optional(),
    limiter: limiterSchema.partial().optional(),
    metrics: metricsSchema.partial().optional(),
  })
  .strict();

export type ServerConfig = z.infer<typeof serverSchema>;
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type SimulatedUpstreamConfig = z.infer<typeof simulatedUpstreamSchema>;
export type AnthropicUpstreamConfig = z.infer<typeof anthropicUpstreamSchema>;
export type OpenAIUpstreamConfig = z.infer<typeof openAIUpstreamSchema>;
export type SimulationProfile = z.infer<typeof simulationProfileSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
export type DeploymentConfig = z.infer<typeof deploymentSchema>;
export type RoutingConfig = z.infer<typeof routingSchema>;
export type LimiterConfig = z.infer<typeof limiterSchema>;
export type MetricsConfig = z.infer<typeof metricsSchema>;
export type ConfigFile = z.infer<typeof configFileSchema>;

/** The whole configuration after defaults, the file and the environment are merged. */
export interface Config {
  server: ServerConfig;
  upstreams: Record<string, UpstreamConfig>;
  models: ModelConfig[];
  routes: RouteConfig[];
  routing: RoutingConfig;
  limiter: LimiterConfig;
  metrics: MetricsConfig;
  /** When set, every model is served by this upstream (`serve --upstream URL`). */
  upstream_override?: string;
  /** When set, capacity comes from this fleet (path resolved against the config file). */
  capacity?: { fleet: string; share: number; speeds?: "fleet" | "models" };
  /** Where the admin API's planner may read scenarios (absolute; resolved against the config file). */
  planner: { scenarios_dir: string };
}
