/**
 * Stage 1, route: the requested model to its catalog entry and upstream (upstreams/routing.ts),
 * and the limits in force for this key and model at the request's clock reading — one plan
 * lookup serves both shedding and the limiter.
 */
import { invalidRequest } from "../../common/errors.ts";
import type { PlanLimits } from "../../plans/plan-limits.ts";
import type { MessagesRequest } from "../../protocol/anthropic.ts";
import { routeModel } from "../../upstreams/routing.ts";
import type { MessageCall, ResolvedModel, Upstream } from "../../upstreams/upstream.ts";
import type { RequestState } from "./state.ts";

export interface Routed {
  model: ResolvedModel;
  upstream: Upstream;
  limits: PlanLimits;
}

export function route(exchange: RequestState, body: MessagesRequest, native?: MessageCall["native"]): Routed {
  const { services } = exchange;
  const { model, upstream } = routeModel(services.router, services.upstreams, body.model);
  exchange.model = model;
  const untranslatable = native?.untranslatable;
  if (untranslatable && !upstream.speaks?.(native.protocol))
    throw invalidRequest(untranslatable.message, untranslatable.param);
  const span = exchange.span;
  if (span) {
    span.updateName(`chat ${model.requested}`);
    span.setAttributes({
      "gen_ai.request.model": model.requested,
      "gen_ai.request.max_tokens": body.max_tokens,
      "headroom.upstream": model.upstream,
      "headroom.model_family": model.entry.family,
    });
  }
  // The clock reading taken when the request arrived (the ledger's at_ms) chooses the policy
  // and the plan's limits.
  const limits = services.enforcer.limitsFor(exchange.identity, model.entry.family, exchange.startedAtMs);
  return { model, upstream, limits };
}
