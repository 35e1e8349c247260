import { dirname, resolve } from "node:path";
import { defaultConfig, EMBEDDED_CAPACITY } from "./defaults.ts";
import { readEnv } from "./env.ts";
import {
  anthropicUpstreamSchema,
  type Config,
  type ConfigFile,
  configFileSchema,
  metricsSchema,
} from "./schema.ts";
import { ConfigError, readYamlFile } from "./yaml-file.ts";

export { ConfigError, describeIssues, parseYaml } from "./yaml-file.ts";

export function readConfigFile(file: string): ConfigFile {
  return readYamlFile(file, configFileSchema);
}

/** Merges a file over the defaults: server keys one by one, upstreams by name, models by id,
 * routes of the file tried before the defaults. */
export function mergeConfig(base: Config, file: ConfigFile): Config {
  const models = new Map(base.models.map((model) => [model.id, model]));
  for (const model of file.models ?? []) models.set(model.id, model);
  return {
    server: { ...base.server, ...file.server },
    upstreams: { ...base.upstreams, ...file.upstreams },
    models: [...models.values()],
    routes: [...(file.routes ?? []), ...base.routes],
    routing: { ...base.routing, ...file.routing },
    limiter: { ...base.limiter, ...file.limiter },
    metrics: { ...base.metrics, ...file.metrics },
    capacity: file.capacity ?? base.capacity,
    planner: file.planner ?? base.planner,
  };
}

export interface ConfigOverrides {
  host?: string;
  port?: number;
  dataDir?: string;
  /** Send every model to an Anthropic-compatible upstream at this URL. */
  upstreamUrl?: string;
}

/** Checks references between sections, which a schema of one section cannot see. */
export function checkReferences(config: Config, file: string): void {
  const problems: string[] = [];
  const ids = new Set<string>();
  config.models.forEach((model, index) => {
    const served = model.deployments
      ? model.deployments.map((deployment, at) => ({
          name: deployment.upstream,
          path: `models.${index}.deployments.${at}.upstream`,
        }))
      : [{ name: model.upstream, path: `models.${index}.upstream` }];
    for (const { name, path } of served) {
      const upstream = config.upstreams[name];
      if (!upstream) problems.push(`${path}: no upstream named "${name}"`);
      if (upstream?.type === "simulated" && !model.simulation) {
        problems.push(`models.${index}.simulation: required for a model on a simulated upstream`);
      }
    }
    (model.fallbacks ?? []).forEach((fallback, at) => {
      if (fallback === model.id || !config.models.some((other) => other.id === fallback)) {
        problems.push(`models.${index}.fallbacks.${at}: no other model with id "${fallback}"`);
      }
    });
    for (const id of [model.id, ...model.aliases]) {
      if (ids.has(id)) problems.push(`models.${index}: id or alias "${id}" is used twice`);
      ids.add(id);
    }
  });
  config.routes.forEach((route, index) => {
    if (!config.models.some((model) => model.id === route.model)) {
      problems.push(`routes.${index}.model: no model with id "${route.model}"`);
    }
  });
  if (problems.length > 0) {
    throw new ConfigError(problems.map((problem) => `${file}: ${problem}`).join("\n"));
  }
}

export function loadConfig(
  options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ConfigOverrides } = {},
): Config {
  const env = readEnv(options.env ?? process.env);
  let config = defaultConfig();
  // Without a config file, the embedded fleet sizes the simulated pool; a config file says
  // for itself whether it has a fleet (a file's simulated pools keep the slots it gives).
  if (!options.file) config.capacity = { ...EMBEDDED_CAPACITY };
  if (options.file) {
    config = mergeConfig(config, readConfigFile(options.file));
    // A fleet path in a config file is relative to that file.
    if (config.capacity)
      config.capacity = {
        ...config.capacity,
        fleet: resolve(dirname(resolve(options.file)), config.capacity.fleet),
      };
    config.planner = { scenarios_dir: resolve(dirname(resolve(options.file)), config.planner.scenarios_dir) };
  }
  const overrides = options.overrides ?? {};
  if (overrides.host) config.server.host = overrides.host;
  if (overrides.port !== undefined) config.server.port = overrides.port;
  if (overrides.dataDir) config.server.data_dir = overrides.dataDir;
  if (env.HEADROOM_METRICS_LISTEN) {
    const listen = metricsSchema.shape.listen.safeParse(env.HEADROOM_METRICS_LISTEN);
    if (!listen.success)
      throw new ConfigError(
        `HEADROOM_METRICS_LISTEN must be host:port, e.g. 127.0.0.1:9464; got "${env.HEADROOM_METRICS_LISTEN}"`,
      );
    config.metrics = { ...config.metrics, listen: listen.data };
  }
  if (env.HEADROOM_LIMITER_ON_FAILURE)
    config.limiter = { ...config.limiter, on_store_failure: env.HEADROOM_LIMITER_ON_FAILURE };
  const upstreamUrl = overrides.upstreamUrl ?? env.HEADROOM_UPSTREAM_URL;
  if (upstreamUrl) {
    try {
      new URL(upstreamUrl);
    } catch {
      throw new ConfigError(`--upstream: not a URL: ${upstreamUrl}`);
    }
    const keyEnv = env.HEADROOM_UPSTREAM_KEY ? "HEADROOM_UPSTREAM_KEY" : "ANTHROPIC_API_KEY";
    config.upstreams.override = anthropicUpstreamSchema.parse({
      type: "anthropic",
      url: upstreamUrl,
      api_key_env: keyEnv,
    });
    config.upstream_override = "override";
  }
  checkReferences(config, options.file ?? "(defaults)");
  return config;
}
