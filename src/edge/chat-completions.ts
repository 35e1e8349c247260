/**
 * The OpenAI surface: POST /v1/chat/completions, JSON and streaming (`data: <chunk>` lines,
 * a usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`).
 * Requests are translated to the Anthropic shape and go through the same exchange.
 */
import type { FastifyInstance } from "fastify";
import type { Gateway } from "../gateway.ts";
import { newCompletionId } from "../ids.ts";
import { chatCompletionRequestSchema } from "../protocol/openai.ts";
import { chatToMessagesRequest } from "../protocol/translate/chat-request.ts";
import { messageToCompletion } from "../protocol/translate/chat-response.ts";
import { AnthropicToChatChunks } from "../protocol/translate/chat-stream.ts";
import { authenticate } from "./auth.ts";
import { asHeadroomError, toOpenAIEnvelope } from "./errors.ts";
import { Exchange } from "./exchange.ts";
import { collectMessage, relayStream, type StreamFormat } from "./relay.ts";
import { validateBody } from "./validate.ts";

function chatStream(translator: AnthropicToChatChunks, includeUsage: boolean): StreamFormat {
  return {
    async event(writer, event) {
      for (const chunk of translator.translate(event)) await writer.data(JSON.stringify(chunk));
    },
    // OpenAI streams report a failure as a data line holding the error envelope.
    error: (writer, error) => writer.data(JSON.stringify(toOpenAIEnvelope(error))),
    async end(writer) {
      if (includeUsage) await writer.data(JSON.stringify(translator.usageChunk()));
      await writer.data("[DONE]");
    },
  };
}

export function registerChatRoutes(app: FastifyInstance, gateway: Gateway): void {
  app.post("/v1/chat/completions", async (request, reply) => {
    const identity = authenticate(gateway.accounts, request.headers);
    const chat = validateBody(chatCompletionRequestSchema, request.body);
    const body = chatToMessagesRequest(chat);
    const streamed = body.stream === true;
    const exchange = new Exchange(gateway, request.id, identity, "openai", streamed);
    const id = newCompletionId();
    try {
      const upstreamReply = await exchange.open(body, {});
      if (streamed) {
        const translator = new AnthropicToChatChunks(id, chat.model);
        const format = chatStream(translator, chat.stream_options?.include_usage === true);
        await relayStream(exchange, upstreamReply, request, reply, format, {
          "request-id": request.id,
          "x-request-id": request.id,
          ...exchange.rateLimitHeaders,
        });
        return reply;
      }
      const message = await collectMessage(exchange, upstreamReply, reply);
      exchange.finish(200);
      reply.headers(exchange.rateLimitHeaders);
      return messageToCompletion(message, id, chat.model);
    } catch (error) {
      const failure = asHeadroomError(error);
      exchange.finish(failure.status, failure);
      throw error;
    }
  });
}
