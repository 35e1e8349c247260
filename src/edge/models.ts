/**
 * GET /v1/models and GET /v1/models/{id}, answered in one shape both SDKs accept: Anthropic's
 * (`type`, `display_name`, `created_at`, `has_more`, `first_id`, `last_id`) merged with
 * OpenAI's (`object`, `created`, `owned_by`).
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { HeadroomError } from "../common/errors.ts";
import type { ModelConfig } from "../config/schema.ts";
import { validateBody } from "../protocol/validate.ts";
import type { EdgeServices } from "./services.ts";

function modelObject(model: ModelConfig, id = model.id) {
  return {
    type: "model",
    id,
    display_name: model.display_name,
    created_at: model.created_at,
    object: "model",
    created: Math.floor(Date.parse(model.created_at) / 1000),
    owned_by: "headroom",
  };
}

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(20),
  after_id: z.string().optional(),
  before_id: z.string().optional(),
});

export function registerModelRoutes(
  app: FastifyInstance,
  gateway: Pick<EdgeServices, "identities" | "router">,
): void {
  app.get("/v1/models", async (request) => {
    const query = validateBody(listQuery, request.query);
    const all = gateway.router.list();
    let start = 0;
    let end = all.length;
    if (query.after_id !== undefined) start = all.findIndex((model) => model.id === query.after_id) + 1;
    if (query.before_id !== undefined)
      end = Math.max(
        0,
        all.findIndex((model) => model.id === query.before_id),
      );
    // Paging backwards (before_id) returns the page just before the cursor.
    const page =
      query.before_id !== undefined && query.after_id === undefined
        ? all.slice(Math.max(start, end - query.limit), end)
        : all.slice(start, Math.min(end, start + query.limit));
    const data = page.map((model) => modelObject(model));
    const hasMore =
      query.before_id !== undefined && query.after_id === undefined
        ? end - query.limit > start
        : start + query.limit < end;
    return {
      object: "list",
      data,
      has_more: hasMore,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
    };
  });

  app.get<{ Params: { id: string } }>("/v1/models/:id", async (request) => {
    const resolved = gateway.router.resolve(request.params.id);
    if (!resolved)
      throw new HeadroomError("unknown_model", `model: ${request.params.id} is not served here.`, {
        param: "model",
      });
    return modelObject(resolved.entry, resolved.requested);
  });
}
