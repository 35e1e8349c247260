/**
 * The Anthropic surface: POST /v1/messages (JSON and SSE) and POST /v1/messages/count_tokens.
 * Claude Code posts to `/v1/messages?beta=true`; query strings are ignored by routing.
 */
import type { FastifyInstance } from "fastify";
import { HeadroomError } from "../common/errors.ts";
import { countTokensRequestSchema, messagesRequestSchema } from "../protocol/anthropic.ts";
import { CounterBusyError } from "../protocol/tokens/count-pool.ts";
import { parseJsonBody, validateBody } from "../protocol/validate.ts";
import { routeModel } from "../upstreams/routing.ts";
import { toAnthropicEnvelope } from "./envelopes.ts";
import { forwardedHeaders } from "./exchange.ts";
import { generationHandler } from "./pipeline.ts";
import type { StreamFormat } from "./relay.ts";
import type { EdgeServices } from "./services.ts";
import type { ExchangeServices } from "./stages/state.ts";

/** Anthropic events pass through as they came: the upstream's own text where it kept it. */
const anthropicStream: StreamFormat = {
  event: (writer, event) =>
    event.raw !== undefined ? writer.write(event.raw) : writer.event(event.event, event.data),
  error: (writer, error) =>
    writer.event("error", JSON.stringify({ ...toAnthropicEnvelope(error, ""), request_id: undefined })),
  end: () => undefined,
};

export const COUNT_TOKENS_PATH = "/v1/messages/count_tokens";
/** The body of a large count_tokens request, left as bytes (request.rawBody) for the worker. */
export const PARSED_ON_WORKER = Object.freeze({ parsedOnWorker: true });

export function registerMessagesRoutes(
  app: FastifyInstance,
  gateway: ExchangeServices & Pick<EdgeServices, "identities" | "tokenCounter">,
): void {
  app.post(
    "/v1/messages",
    generationHandler(gateway, {
      endpoint: "anthropic",
      passthrough: true,
      schema: messagesRequestSchema,
      translate: (body) => ({ request: body, context: undefined }),
      forwardedHeaders: (request) => forwardedHeaders(request.headers),
      stream: () => anthropicStream,
      streamHeaders: (requestId) => ({ "request-id": requestId }),
      answer: (message) => message,
    }),
  );

  // Authenticated before its body is read (auth.ts registerCustomerAuth).
  // Where no upstream counts tokens itself, a large body's bytes go to the counter's worker to
  // be decoded, parsed, validated and counted there; otherwise it is parsed here to be forwarded.
  const countsLocally = ![...gateway.upstreams.values()].some((upstream) => upstream.countTokens);
  app.post(COUNT_TOKENS_PATH, async (request) => {
    const bytes = request.body === PARSED_ON_WORKER ? (request.rawBody ?? Buffer.alloc(0)) : undefined;
    if (bytes !== undefined && countsLocally)
      return { input_tokens: await busyAsOverload(gateway.tokenCounter.countBytes(bytes)) };
    const body = validateBody(
      countTokensRequestSchema,
      bytes === undefined ? request.body : parseJsonBody(bytes.toString("utf8")),
    );
    const { model, upstream } = routeModel(gateway.router, gateway.upstreams, body.model);
    if (upstream.countTokens) {
      const controller = new AbortController();
      const input_tokens = await upstream.countTokens({
        body: { ...body, model: model.upstreamModel, max_tokens: 1 },
        model,
        headers: forwardedHeaders(request.headers),
        signal: controller.signal,
      });
      return { input_tokens };
    }
    return { input_tokens: await busyAsOverload(gateway.tokenCounter.count(body)) };
  });
}

/** Large prompts are counted on a worker thread; when too many wait, the client is told to come back. */
async function busyAsOverload(count: number | Promise<number>): Promise<number> {
  try {
    return await count;
  } catch (error) {
    if (error instanceof CounterBusyError)
      throw new HeadroomError(
        "counter_busy",
        "Too many large prompts are waiting to be counted; try again shortly.",
        {
          headers: { "retry-after": "5" },
        },
      );
    throw error;
  }
}
