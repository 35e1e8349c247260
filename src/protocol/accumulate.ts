/**
 * Folds an Anthropic event stream into the complete Message a non-streaming client expects.
 * Used when the upstream streams (the simulated pool always does) but the client did not ask to.
 */
import { type ContentBlock, type Message, type SseEvent, sseEvent } from "./anthropic.ts";

type Building =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; json: string };

export class MessageAccumulator {
  private message: Message | undefined;
  private readonly blocks: Building[] = [];

  observe(event: SseEvent): void {
    if (event.event === "ping") return;
    const payload = JSON.parse(event.data);
    switch (event.event) {
      case "message_start":
        this.message = { ...payload.message, content: [] };
        break;
      case "content_block_start": {
        const block = payload.content_block;
        if (block.type === "tool_use") {
          this.blocks[payload.index] = { type: "tool_use", id: block.id, name: block.name, json: "" };
        } else if (block.type === "thinking") {
          this.blocks[payload.index] = { type: "thinking", thinking: "", signature: "" };
        } else {
          this.blocks[payload.index] = { type: "text", text: block.text ?? "" };
        }
        break;
      }
      case "content_block_delta": {
        const block = this.blocks[payload.index];
        const delta = payload.delta;
        if (!block) break;
        if (block.type === "text" && delta.type === "text_delta") block.text += delta.text;
        else if (block.type === "thinking" && delta.type === "thinking_delta")
          block.thinking += delta.thinking;
        else if (block.type === "thinking" && delta.type === "signature_delta")
          block.signature += delta.signature;
        else if (block.type === "tool_use" && delta.type === "input_json_delta")
          block.json += delta.partial_json;
        break;
      }
      case "message_delta":
        if (this.message) {
          this.message.stop_reason = payload.delta?.stop_reason ?? null;
          this.message.stop_sequence = payload.delta?.stop_sequence ?? null;
          this.message.usage = { ...this.message.usage, ...payload.usage };
        }
        break;
    }
  }

  /** The message so far; undefined if the stream never started one. */
  result(): Message | undefined {
    if (!this.message) return undefined;
    const content: ContentBlock[] = this.blocks.map((block) => {
      if (block.type !== "tool_use") return block;
      return {
        type: "tool_use",
        id: block.id,
        name: block.name,
        input: block.json ? JSON.parse(block.json) : {},
      };
    });
    return { ...this.message, content };
  }
}

/** Replays a complete message as the event sequence a streaming client expects. */
export function messageToEvents(message: Message): SseEvent[] {
  const events: SseEvent[] = [
    sseEvent({
      type: "message_start",
      message: {
        ...message,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...message.usage, output_tokens: 1 },
      },
    }),
  ];
  message.content.forEach((block, index) => {
    const delta = (payload: Record<string, unknown>) =>
      events.push(sseEvent({ type: "content_block_delta", index, delta: payload }));
    if (block.type === "text") {
      events.push(
        sseEvent({ type: "content_block_start", index, content_block: { type: "text", text: "" } }),
      );
      delta({ type: "text_delta", text: block.text });
    } else if (block.type === "thinking") {
      events.push(
        sseEvent({ type: "content_block_start", index, content_block: { type: "thinking", thinking: "" } }),
      );
      delta({ type: "thinking_delta", thinking: block.thinking });
      delta({ type: "signature_delta", signature: block.signature });
    } else {
      events.push(sseEvent({ type: "content_block_start", index, content_block: { ...block, input: {} } }));
      delta({ type: "input_json_delta", partial_json: JSON.stringify(block.input) });
    }
    events.push(sseEvent({ type: "content_block_stop", index }));
  });
  events.push(
    sseEvent({
      type: "message_delta",
      delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence },
      usage: message.usage,
    }),
  );
  events.push(sseEvent({ type: "message_stop" }));
  return events;
}
