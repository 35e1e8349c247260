/**
 * A Responses API stream passed through from an OpenAI server, seen by the gateway's meter:
 * every upstream event is forwarded as its own bytes (`native`), and the few that matter for
 * accounting also become the Anthropic-shaped events the meter and relay understand —
 * `response.created` a message_start (input estimated until the end), text and argument
 * deltas content_block_deltas (so a stream cut short is charged what it produced), the closing
 * `response.completed` / `response.incomplete` the upstream's usage and a message_stop (held,
 * like every stream's last words, until the ledger row is durable), and `response.failed` or
 * `error` an error event.
 */
import { type Message, type SseEvent, type StopReason, sseEvent } from "../anthropic.ts";
import type { ResponseObject } from "../responses.ts";

/** The SSE bytes of one event as it came. */
const sseText = (event: SseEvent) => `event: ${event.event}\ndata: ${event.data}\n\n`;

const meterOnly = (event: SseEvent): SseEvent => ({ ...event, native: "" });

/** Usage of a Responses object in the meter's terms (OpenAI counts cached input inside input). */
export function usageOfResponse(response: Partial<ResponseObject> | undefined) {
  const usage = response?.usage;
  const cached = usage?.input_tokens_details?.cached_tokens ?? 0;
  return {
    input_tokens: Math.max(0, (usage?.input_tokens ?? 0) - cached),
    output_tokens: usage?.output_tokens ?? 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

function stopOf(response: Partial<ResponseObject> | undefined): StopReason {
  if (response?.status === "incomplete") return "max_tokens";
  return response?.output?.some((item) => item.type === "function_call") ? "tool_use" : "end_turn";
}

export function* meterResponsesEvent(event: SseEvent, estimatedInput: number): Generator<SseEvent> {
  const native = sseText(event);
  switch (event.event) {
    case "response.created":
      yield {
        ...sseEvent({
          type: "message_start",
          message: { usage: { input_tokens: estimatedInput, output_tokens: 0 } },
        }),
        native,
      };
      return;
    case "response.output_text.delta":
    case "response.function_call_arguments.delta":
    case "response.custom_tool_call_input.delta": {
      const { delta } = JSON.parse(event.data) as { delta?: string };
      yield {
        ...sseEvent({
          type: "content_block_delta",
          index: 0,
          delta: { type: "text_delta", text: delta ?? "" },
        }),
        native,
      };
      return;
    }
    case "response.completed":
    case "response.incomplete": {
      const { response } = JSON.parse(event.data) as { response?: Partial<ResponseObject> };
      yield meterOnly(
        sseEvent({
          type: "message_delta",
          delta: { stop_reason: stopOf(response), stop_sequence: null },
          usage: usageOfResponse(response),
        }),
      );
      yield { ...sseEvent({ type: "message_stop" }), native };
      return;
    }
    case "response.failed":
    case "error": {
      const payload = JSON.parse(event.data) as {
        response?: { error?: { code?: string; message?: string } };
        code?: string;
        message?: string;
      };
      const error = payload.response?.error ?? payload;
      yield {
        ...sseEvent({
          type: "error",
          error: {
            type: error.code === "rate_limit_exceeded" ? "rate_limit_error" : "api_error",
            message: error.message ?? "",
          },
        }),
        native,
      };
      return;
    }
    default:
      // Everything else (and events this version does not know) only goes through.
      yield { event: "responses.passthrough", data: "", native };
  }
}

/** A whole Responses object as the message the pipeline records, with the object itself kept. */
export function responseToMeteredMessage(response: Partial<ResponseObject>, model: string): Message {
  return {
    id: String(response.id ?? ""),
    type: "message",
    role: "assistant",
    model,
    content: [],
    stop_reason: stopOf(response),
    stop_sequence: null,
    usage: usageOfResponse(response),
  };
}
