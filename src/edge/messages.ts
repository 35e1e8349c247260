/**
 * The Anthropic surface: POST /v1/messages (JSON and SSE) and POST /v1/messages/count_tokens.
 * Claude Code posts to `/v1/messages?beta=true`; query strings are ignored by routing.
 */
import type { FastifyInstance } from "fastify";
import type { Gateway } from "../gateway.ts";
import { countTokensRequestSchema, messagesRequestSchema } from "../protocol/anthropic.ts";
import { countRequestTokens } from "../tokens/count.ts";
import { authenticate } from "./auth.ts";
import { asHeadroomError, toAnthropicEnvelope } from "./errors.ts";
import { Exchange, forwardedHeaders, resolveModel } from "./exchange.ts";
import { collectMessage, relayStream, type StreamFormat } from "./relay.ts";
import { validateBody } from "./validate.ts";

/** Anthropic events pass through as they came: same event names, same JSON text. */
const anthropicStream = (requestId: string): StreamFormat => ({
  event: (writer, event) => writer.event(event.event, event.data),
  error: (writer, error) =>
    writer.event(
      "error",
      JSON.stringify({ ...toAnthropicEnvelope(error, requestId), request_id: undefined }),
    ),
  end: async () => {},
});

export function registerMessagesRoutes(app: FastifyInstance, gateway: Gateway): void {
  app.post("/v1/messages", async (request, reply) => {
    const identity = authenticate(gateway.accounts, request.headers);
    const body = validateBody(messagesRequestSchema, request.body);
    const streamed = body.stream === true;
    const exchange = new Exchange(gateway, request.id, identity, "anthropic", streamed);
    try {
      const upstreamReply = await exchange.open(body, forwardedHeaders(request.headers));
      if (streamed) {
        await relayStream(exchange, upstreamReply, request, reply, anthropicStream(request.id), {
          "request-id": request.id,
          ...exchange.rateLimitHeaders,
        });
        return reply;
      }
      const message = await collectMessage(exchange, upstreamReply, reply);
      exchange.finish(200);
      reply.headers(exchange.rateLimitHeaders);
      return message;
    } catch (error) {
      const failure = asHeadroomError(error);
      exchange.finish(failure.status, failure);
      throw error;
    }
  });

  app.post("/v1/messages/count_tokens", async (request) => {
    authenticate(gateway.accounts, request.headers);
    const body = validateBody(countTokensRequestSchema, request.body);
    const { model, upstream } = resolveModel(gateway, body.model);
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
    return { input_tokens: countRequestTokens(body) };
  });
}
