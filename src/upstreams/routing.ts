/**
 * Model routing: a requested model id → the catalog entry that serves it. Exact ids and
 * aliases win, then wildcard routes in order. Clients change their default id with every
 * release, so families are routed by glob (`claude-opus-*`) rather than by a fixed list.
 */

import { HeadroomError, upstreamFailed } from "../common/errors.ts";
import { type Config, type ModelConfig, servingUpstream } from "../config/schema.ts";
import type { ResolvedModel, Upstream } from "./upstream.ts";

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

export class ModelRouter {
  private readonly byId = new Map<string, ModelConfig>();
  private readonly routes: Array<{ pattern: RegExp; entry: ModelConfig; sendAs?: "requested" | "model" }> =
    [];
  private readonly cache = new Map<string, ResolvedModel | null>();

  constructor(private readonly config: Config) {
    for (const model of config.models) {
      this.byId.set(model.id, model);
      for (const alias of model.aliases) this.byId.set(alias, model);
    }
    for (const route of config.routes) {
      const entry = config.models.find((model) => model.id === route.model);
      if (entry) this.routes.push({ pattern: globToRegExp(route.match), entry, sendAs: route.send_as });
    }
  }

  /** Catalog entries, newest first, as `GET /v1/models` lists them. */
  list(): ModelConfig[] {
    return [...this.config.models].sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  /** The catalog entry with this exact id or alias (no wildcard). */
  find(id: string): ModelConfig | undefined {
    return this.byId.get(id);
  }

  resolve(requested: string): ResolvedModel | undefined {
    const cached = this.cache.get(requested);
    if (cached !== undefined) return cached ?? undefined;
    const resolved = this.resolveUncached(requested);
    // Bounded: ids come from clients, so an attacker could send endless distinct ones.
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(requested, resolved ?? null);
    return resolved;
  }

  private resolveUncached(requested: string): ResolvedModel | undefined {
    const known = this.byId.get(requested);
    const route = known ? undefined : this.routes.find((candidate) => candidate.pattern.test(requested));
    const entry = known ?? route?.entry;
    const override = this.config.upstream_override;
    if (override) {
      // `serve --upstream URL`: every id goes to that upstream, known or not.
      const served = entry ?? {
        id: requested,
        display_name: requested,
        created_at: new Date(0).toISOString(),
        family: "unknown",
        aliases: [],
        upstream: override,
      };
      return { requested, entry: served, upstream: override, upstreamModel: requested };
    }
    if (!entry) return undefined;
    return {
      requested,
      entry,
      upstream: servingUpstream(entry),
      upstreamModel: entry.upstream_model ?? (route?.sendAs === "model" ? entry.id : requested),
    };
  }
}

/**
 * The one place a requested model becomes the upstream that serves it: the catalog route, then
 * the configured upstream by name. Unknown models are a 404 naming the field.
 */
export function routeModel(
  router: ModelRouter,
  upstreams: ReadonlyMap<string, Upstream>,
  id: string,
): { model: ResolvedModel; upstream: Upstream } {
  const model = router.resolve(id);
  if (!model)
    throw new HeadroomError(
      "unknown_model",
      `model: ${id} is not served here. GET /v1/models lists the models.`,
      {
        param: "model",
      },
    );
  const upstream = upstreams.get(model.upstream);
  if (!upstream) throw upstreamFailed(`No upstream named ${model.upstream} is configured.`);
  return { model, upstream };
}
