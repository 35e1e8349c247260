/**
 * The OpenAI surface: POST /v1/chat/completions, JSON and streaming (`data: <chunk>` lines,
 * a usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`).
 * Requests are translated to the Anthropic shape and go through the same exchange.
 */
import type { FastifyInstance } from "fastify";
import { newCompletionId } from "../common/ids.ts";
import { chatCompletionRequestSchema } from "../protocol/openai.ts";
import { chatToMessagesRequest } from "../protocol/translate/chat-request.ts";
import { messageToCompletion } from "../protocol/translate/chat-response.ts";
import { AnthropicToChatChunks } from "../protocol/translate/chat-stream.ts";
import { toOpenAIEnvelope } from "./envelopes.ts";
import { generationHandler } from "./pipeline.ts";
import type { StreamFormat } from "./relay.ts";
import type { EdgeServices } from "./services.ts";
import type { ExchangeServices } from "./stages/state.ts";

function chatStream(translator: AnthropicToChatChunks, includeUsage: boolean): StreamFormat {
  return {
    event(writer, event) {
      let waiting: Promise<void> | undefined;
      for (const chunk of translator.translate(event)) {
        // Chunks of one event go out together; a full socket is waited for once, after them.
        waiting = writer.data(JSON.stringify(chunk)) ?? waiting;
      }
      return waiting;
    },
    // OpenAI streams report a failure as a data line holding the error envelope.
    error: (writer, error) => writer.data(JSON.stringify(toOpenAIEnvelope(error))),
    end(writer) {
      if (includeUsage) writer.data(JSON.stringify(translator.usageChunk()));
      return writer.data("[DONE]");
    },
  };
}

export function registerChatRoutes(
  app: FastifyInstance,
  gateway: ExchangeServices & Pick<EdgeServices, "identities">,
): void {
  app.post(
    "/v1/chat/completions",
    generationHandler(gateway, {
      endpoint: "openai",
      passthrough: false,
      schema: chatCompletionRequestSchema,
      translate: (chat) => ({
        request: chatToMessagesRequest(chat),
        context: { chat, id: newCompletionId() },
      }),
      // OpenAI clients' headers mean nothing to an Anthropic-shaped upstream.
      forwardedHeaders: () => ({}),
      stream: ({ chat, id }) =>
        chatStream(new AnthropicToChatChunks(id, chat.model), chat.stream_options?.include_usage === true),
      streamHeaders: (requestId) => ({ "request-id": requestId, "x-request-id": requestId }),
      answer: (message, { chat, id }) => messageToCompletion(message, id, chat.model),
    }),
  );
}
