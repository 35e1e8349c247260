/**
 * The OpenAI Responses surface: POST /v1/responses, JSON and SSE (`event: <type>` +
 * `data: {"type": <type>, "sequence_number": n, …}`), what the Codex CLI speaks with
 * `wire_api = "responses"`. Requests are translated to the Anthropic shape and go through the
 * same pipeline as the other endpoints: same limits, same ledger, every kind of upstream. An
 * OpenAI upstream configured with `responses: true` gets the request as it came instead, and
 * its events come back byte for byte (protocol/translate/responses-meter.ts meters them).
 */
import type { FastifyInstance } from "fastify";
import { newResponseId } from "../common/ids.ts";
import { type ResponsesRequest, responsesRequestSchema } from "../protocol/responses.ts";
import { responsesToMessagesRequest } from "../protocol/translate/responses-request.ts";
import {
  AnthropicToResponseEvents,
  messageToResponse,
  type ResponseEvent,
} from "../protocol/translate/responses-stream.ts";
import { toOpenAIEnvelope } from "./envelopes.ts";
import { generationHandler } from "./pipeline.ts";
import type { StreamFormat } from "./relay.ts";
import type { EdgeServices } from "./services.ts";
import type { SseWriter } from "./sse-writer.ts";
import type { ExchangeServices } from "./stages/state.ts";

/** The request fields a response object echoes back. */
function echoed(body: ResponsesRequest): Record<string, unknown> {
  return {
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    temperature: body.temperature ?? null,
    top_p: body.top_p ?? null,
    tool_choice: body.tool_choice ?? "auto",
    tools: body.tools ?? [],
    store: false,
    metadata: body.metadata ?? {},
  };
}

function writeAll(writer: SseWriter, events: ResponseEvent[]): Promise<void> | undefined {
  let waiting: Promise<void> | undefined;
  // Events of one upstream event go out together; a full socket is waited for once, after them.
  for (const event of events) waiting = writer.event(event.type, JSON.stringify(event)) ?? waiting;
  return waiting;
}

function responsesStream(translator: AnthropicToResponseEvents): StreamFormat {
  return {
    // An upstream that speaks Responses itself: its bytes go out untouched ("" = meter only).
    event(writer, event) {
      if (event.native === undefined) return writeAll(writer, translator.translate(event));
      return event.native ? writer.write(event.native) : undefined;
    },
    error(writer, error) {
      const envelope = toOpenAIEnvelope(error).error;
      return writeAll(writer, [translator.failed(envelope.code ?? error.type, error.message)]);
    },
    end: () => undefined,
  };
}

export function registerResponsesRoutes(
  app: FastifyInstance,
  gateway: ExchangeServices & Pick<EdgeServices, "identities">,
): void {
  app.post(
    "/v1/responses",
    generationHandler(gateway, {
      endpoint: "openai",
      passthrough: false,
      schema: responsesRequestSchema,
      translate(body) {
        const { request, context } = responsesToMessagesRequest(body);
        const translator = new AnthropicToResponseEvents(
          newResponseId(),
          body.model,
          echoed(body),
          context.customTools,
        );
        return { request, context: translator };
      },
      // Codex's own headers (session-id, x-codex-*) mean nothing to an Anthropic-shaped upstream.
      forwardedHeaders: () => ({}),
      stream: (translator) => responsesStream(translator),
      streamHeaders: (requestId) => ({ "request-id": requestId, "x-request-id": requestId }),
      answer: (message, translator, native) => native ?? messageToResponse(message, translator),
      // Kept as the client sent it, for an OpenAI upstream that serves the Responses API itself.
      native: (body) => ({
        protocol: "responses",
        body,
        // A stored earlier response exists only upstream: no translation can stand in for it.
        untranslatable: body.previous_response_id
          ? {
              param: "previous_response_id",
              message:
                "previous_response_id is not supported for this model: headroom stores no responses. Send the whole conversation in input (as the Codex CLI does with store: false).",
            }
          : undefined,
      }),
    }),
  );
}
