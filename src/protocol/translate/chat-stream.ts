/**
 * Stream translation, one event at a time (nothing is buffered beyond the current block):
 * Anthropic events → OpenAI chunks for the OpenAI endpoint, and OpenAI chunks → Anthropic
 * events for OpenAI-compatible upstreams.
 */
import { newMessageId } from "../../common/ids.ts";
import { type SseEvent, type StopReason, sseEvent, type Usage } from "../anthropic.ts";
import type { ChatCompletionChunk, ChatToolCall, ChatUsage, FinishReason } from "../openai.ts";
import { estimateTextTokens } from "../tokens/estimate.ts";
import { anthropicUsage, chatUsage, finishReason, stopReason } from "./chat-response.ts";

type Delta = ChatCompletionChunk["choices"][number]["delta"];

export class AnthropicToChatChunks {
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly toolIndex = new Map<number, number>();
  private finish: FinishReason | null = null;
  private usage: Usage = {
    input_tokens: 0,
    output_tokens: 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };

  constructor(
    private readonly id: string,
    private readonly model: string,
  ) {}

  private chunk(delta: Delta, finish: FinishReason | null = null): ChatCompletionChunk {
    return {
      id: this.id,
      object: "chat.completion.chunk",
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    };
  }

  /** The chunks one Anthropic event becomes (often none). */
  translate(event: SseEvent): ChatCompletionChunk[] {
    switch (event.event) {
      case "message_start": {
        const payload = JSON.parse(event.data);
        this.usage = { ...this.usage, ...payload.message?.usage };
        return [this.chunk({ role: "assistant", content: "" })];
      }
      case "content_block_start": {
        const payload = JSON.parse(event.data);
        const block = payload.content_block;
        if (block?.type !== "tool_use") return [];
        const index = this.toolIndex.size;
        this.toolIndex.set(payload.index, index);
        return [
          this.chunk({
            tool_calls: [
              { index, id: block.id, type: "function", function: { name: block.name, arguments: "" } },
            ],
          }),
        ];
      }
      case "content_block_delta": {
        const payload = JSON.parse(event.data);
        const delta = payload.delta;
        if (delta?.type === "text_delta") return [this.chunk({ content: delta.text })];
        if (delta?.type === "input_json_delta") {
          const index = this.toolIndex.get(payload.index) ?? 0;
          return [this.chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] })];
        }
        return [];
      }
      case "message_delta": {
        const payload = JSON.parse(event.data);
        this.finish = finishReason(payload.delta?.stop_reason ?? null);
        for (const [field, value] of Object.entries(payload.usage ?? {})) {
          if (typeof value === "number") (this.usage as unknown as Record<string, number>)[field] = value;
        }
        return [];
      }
      case "message_stop":
        return [this.chunk({}, this.finish ?? "stop")];
      default:
        return [];
    }
  }

  /** The extra chunk `stream_options.include_usage` asks for: no choices, just usage. */
  usageChunk(): ChatCompletionChunk {
    return {
      id: this.id,
      object: "chat.completion.chunk",
      created: this.created,
      model: this.model,
      choices: [],
      usage: chatUsage(this.usage),
    };
  }
}

interface UpstreamChunk {
  choices?: Array<{
    delta?: {
      content?: string | null;
      tool_calls?: Array<{ index?: number; id?: string; function?: Partial<ChatToolCall["function"]> }>;
    };
    finish_reason?: string | null;
  }>;
  usage?: Partial<ChatUsage> | null;
}

export class ChatChunksToAnthropic {
  private started = false;
  private open: { index: number; kind: "text" | "tool"; toolIndex?: number } | null = null;
  private nextIndex = 0;
  private stop: StopReason = "end_turn";
  private usage: Usage | null = null;
  /** Output counted from the deltas, for upstreams that send no usage chunk. */
  private countedOutput = 0;

  constructor(
    private readonly model: string,
    private readonly estimatedInputTokens: number,
  ) {}

  private start(): SseEvent[] {
    if (this.started) return [];
    this.started = true;
    return [
      sseEvent({
        type: "message_start",
        message: {
          id: newMessageId(),
          type: "message",
          role: "assistant",
          model: this.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: this.estimatedInputTokens,
            output_tokens: 1,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
          },
        },
      }),
    ];
  }

  private close(): SseEvent[] {
    if (!this.open) return [];
    const index = this.open.index;
    this.open = null;
    return [sseEvent({ type: "content_block_stop", index })];
  }

  translate(chunk: UpstreamChunk): SseEvent[] {
    const events = this.start();
    if (chunk.usage) this.usage = anthropicUsage(chunk.usage);
    const choice = chunk.choices?.[0];
    const delta = choice?.delta;
    if (delta?.content) {
      this.countedOutput += Math.max(1, estimateTextTokens(delta.content.length));
      if (this.open?.kind !== "text") {
        events.push(...this.close());
        this.open = { index: this.nextIndex++, kind: "text" };
        events.push(
          sseEvent({
            type: "content_block_start",
            index: this.open.index,
            content_block: { type: "text", text: "" },
          }),
        );
      }
      events.push(
        sseEvent({
          type: "content_block_delta",
          index: this.open.index,
          delta: { type: "text_delta", text: delta.content },
        }),
      );
    }
    for (const call of delta?.tool_calls ?? []) {
      const isNew =
        call.id !== undefined && (this.open?.kind !== "tool" || this.open.toolIndex !== call.index);
      if (isNew) {
        events.push(...this.close());
        this.open = { index: this.nextIndex++, kind: "tool", toolIndex: call.index };
        events.push(
          sseEvent({
            type: "content_block_start",
            index: this.open.index,
            content_block: { type: "tool_use", id: call.id, name: call.function?.name ?? "", input: {} },
          }),
        );
      }
      if (this.open && call.function?.arguments) {
        this.countedOutput += Math.max(1, estimateTextTokens(call.function.arguments.length));
        events.push(
          sseEvent({
            type: "content_block_delta",
            index: this.open.index,
            delta: { type: "input_json_delta", partial_json: call.function.arguments },
          }),
        );
      }
    }
    if (choice?.finish_reason) this.stop = stopReason(choice.finish_reason);
    return events;
  }

  /** Ends the message once the upstream says [DONE]. */
  finish(): SseEvent[] {
    const events = [...this.start(), ...this.close()];
    const usage = this.usage ?? {
      input_tokens: this.estimatedInputTokens,
      output_tokens: this.countedOutput,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    };
    events.push(
      sseEvent({ type: "message_delta", delta: { stop_reason: this.stop, stop_sequence: null }, usage }),
    );
    events.push(sseEvent({ type: "message_stop" }));
    return events;
  }
}
