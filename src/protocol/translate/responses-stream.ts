/**
 * Anthropic stream events → Responses API events (../shared/spec/api.md §9), one event at a
 * time: `response.created` and `response.in_progress` at `message_start`; per text block an
 * output `message` item with its `output_text` part and deltas; per tool call a `function_call`
 * item (a `custom_tool_call` for free-text tools) with its argument deltas; and at
 * `message_stop` `response.completed` (or `response.incomplete` when the output hit its token
 * limit) carrying the whole output and usage. A whole message is translated by playing its
 * events through the same class, so JSON and stream answers cannot disagree.
 */
import { newOutputItemId } from "../../common/ids.ts";
import { messageToEvents } from "../accumulate.ts";
import { emptyUsage, type Message, type SseEvent, type StopReason, type Usage } from "../anthropic.ts";
import type { OutputText, ResponseObject, ResponseOutputItem, ResponseUsage } from "../responses.ts";

export interface ResponseEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

/** OpenAI counts cached input inside input_tokens; Anthropic reports it apart. */
export function responseUsage(usage: Usage): ResponseUsage {
  const input = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage.cache_read_input_tokens },
    output_tokens: usage.output_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + usage.output_tokens,
  };
}

interface OpenItem {
  outputIndex: number;
  item: ResponseOutputItem & { type: "message" | "function_call" } & Record<string, unknown>;
  /** Text so far (message) or arguments so far (tool call). */
  text: string;
  custom: boolean;
}

export class AnthropicToResponseEvents {
  private sequence = 0;
  private nextOutputIndex = 0;
  private readonly output: ResponseOutputItem[] = [];
  private readonly open = new Map<number, OpenItem>();
  private usage: Usage = emptyUsage();
  private stop: StopReason | null = null;
  private readonly createdAt = Math.floor(Date.now() / 1000);

  constructor(
    private readonly id: string,
    private readonly model: string,
    /** Request fields a response echoes (instructions, tools, tool_choice, …). */
    private readonly echo: Record<string, unknown>,
    private readonly customTools: ReadonlySet<string> = new Set(),
  ) {}

  private event(type: string, fields: Record<string, unknown>): ResponseEvent {
    return { type, sequence_number: this.sequence++, ...fields };
  }

  /** The response object as it stands. */
  response(status: ResponseObject["status"], extra: Partial<ResponseObject> = {}): ResponseObject {
    return {
      id: this.id,
      object: "response",
      created_at: this.createdAt,
      status,
      model: this.model,
      output: status === "in_progress" ? [] : this.output.filter(Boolean),
      usage: status === "in_progress" ? null : responseUsage(this.usage),
      error: null,
      incomplete_details: null,
      ...this.echo,
      ...extra,
    };
  }

  /** The events one Anthropic event becomes (often none). */
  translate(event: SseEvent): ResponseEvent[] {
    switch (event.event) {
      case "message_start": {
        const payload = JSON.parse(event.data);
        this.usage = { ...this.usage, ...payload.message?.usage };
        const response = this.response("in_progress");
        return [
          this.event("response.created", { response }),
          this.event("response.in_progress", { response }),
        ];
      }
      case "content_block_start":
        return this.startBlock(JSON.parse(event.data));
      case "content_block_delta":
        return this.delta(JSON.parse(event.data));
      case "content_block_stop":
        return this.stopBlock(JSON.parse(event.data).index);
      case "message_delta": {
        const payload = JSON.parse(event.data);
        this.stop = payload.delta?.stop_reason ?? this.stop;
        for (const [field, value] of Object.entries(payload.usage ?? {})) {
          if (typeof value === "number") (this.usage as unknown as Record<string, number>)[field] = value;
        }
        return [];
      }
      case "message_stop":
        return [this.finalEvent()];
      case "error": {
        // An upstream's in-stream error (overloaded, api_error) ends the response as failed.
        const error = JSON.parse(event.data).error ?? {};
        return [
          this.failed(String(error.type ?? "api_error"), String(error.message ?? "The upstream failed.")),
        ];
      }
      default:
        return [];
    }
  }

  /** The closing event: completed, or incomplete when the output ran into its token limit. */
  private finalEvent(): ResponseEvent {
    if (this.stop === "max_tokens") {
      return this.event("response.incomplete", {
        response: this.response("incomplete", { incomplete_details: { reason: "max_output_tokens" } }),
      });
    }
    return this.event("response.completed", { response: this.response("completed") });
  }

  /** A failure after the stream started, as the Responses API reports one. */
  failed(code: string, message: string): ResponseEvent {
    return this.event("response.failed", { response: this.response("failed", { error: { code, message } }) });
  }

  private startBlock(payload: {
    index: number;
    content_block?: { type: string; id?: string; name?: string };
  }): ResponseEvent[] {
    const block = payload.content_block;
    const outputIndex = this.nextOutputIndex;
    if (block?.type === "text") {
      const item = {
        id: newOutputItemId("msg"),
        type: "message" as const,
        status: "in_progress" as const,
        role: "assistant" as const,
        content: [] as OutputText[],
      };
      this.nextOutputIndex++;
      this.open.set(payload.index, { outputIndex, item, text: "", custom: false });
      return [
        this.event("response.output_item.added", { output_index: outputIndex, item: { ...item } }),
        this.event("response.content_part.added", {
          item_id: item.id,
          output_index: outputIndex,
          content_index: 0,
          part: { type: "output_text", text: "", annotations: [] },
        }),
      ];
    }
    if (block?.type === "tool_use") {
      const name = block.name ?? "";
      const custom = this.customTools.has(name);
      const item = custom
        ? {
            id: newOutputItemId("ctc"),
            type: "custom_tool_call",
            status: "in_progress",
            call_id: block.id ?? "",
            name,
            input: "",
          }
        : {
            id: newOutputItemId("fc"),
            type: "function_call",
            status: "in_progress",
            call_id: block.id ?? "",
            name,
            arguments: "",
          };
      this.nextOutputIndex++;
      this.open.set(payload.index, { outputIndex, item: item as OpenItem["item"], text: "", custom });
      return [this.event("response.output_item.added", { output_index: outputIndex, item: { ...item } })];
    }
    // Thinking blocks carry Anthropic's signed state, which a Responses client cannot send back.
    return [];
  }

  private delta(payload: {
    index: number;
    delta?: { type: string; text?: string; partial_json?: string };
  }): ResponseEvent[] {
    const open = this.open.get(payload.index);
    const delta = payload.delta;
    if (!open || !delta) return [];
    if (delta.type === "text_delta" && delta.text) {
      open.text += delta.text;
      return [
        this.event("response.output_text.delta", {
          item_id: open.item.id,
          output_index: open.outputIndex,
          content_index: 0,
          delta: delta.text,
          logprobs: [],
        }),
      ];
    }
    if (delta.type === "input_json_delta" && delta.partial_json) {
      open.text += delta.partial_json;
      // A free-text tool's input is one JSON string field: it is known whole only at the end.
      if (open.custom) return [];
      return [
        this.event("response.function_call_arguments.delta", {
          item_id: open.item.id,
          output_index: open.outputIndex,
          delta: delta.partial_json,
        }),
      ];
    }
    return [];
  }

  private stopBlock(index: number): ResponseEvent[] {
    const open = this.open.get(index);
    if (!open) return [];
    this.open.delete(index);
    const { item, outputIndex, text } = open;
    const events: ResponseEvent[] = [];
    let done: ResponseOutputItem;
    if (item.type === "message") {
      const part: OutputText = { type: "output_text", text, annotations: [] };
      events.push(
        this.event("response.output_text.done", {
          item_id: item.id,
          output_index: outputIndex,
          content_index: 0,
          text,
          logprobs: [],
        }),
        this.event("response.content_part.done", {
          item_id: item.id,
          output_index: outputIndex,
          content_index: 0,
          part,
        }),
      );
      done = { ...item, status: "completed", content: [part] };
    } else if (open.custom) {
      done = { ...item, status: "completed", input: customInput(text) } as unknown as ResponseOutputItem;
      events.push(
        this.event("response.custom_tool_call_input.done", {
          item_id: item.id,
          output_index: outputIndex,
          input: customInput(text),
        }),
      );
    } else {
      const args = text.length > 0 ? text : "{}";
      events.push(
        this.event("response.function_call_arguments.done", {
          item_id: item.id,
          output_index: outputIndex,
          arguments: args,
        }),
      );
      done = { ...item, status: "completed", arguments: args };
    }
    this.output[outputIndex] = done;
    events.push(this.event("response.output_item.done", { output_index: outputIndex, item: done }));
    return events;
  }
}

/** A free-text tool is called with `{"input": "<text>"}`; its Responses item carries the text. */
function customInput(json: string): string {
  try {
    const parsed = JSON.parse(json) as { input?: unknown };
    return typeof parsed.input === "string" ? parsed.input : json;
  } catch {
    return json;
  }
}

/** A whole message as a Responses object, by the same translation a stream takes. */
export function messageToResponse(message: Message, translator: AnthropicToResponseEvents): ResponseObject {
  let final: ResponseEvent | undefined;
  for (const event of messageToEvents(message)) {
    for (const translated of translator.translate(event)) final = translated;
  }
  return (final?.response as ResponseObject | undefined) ?? translator.response("completed");
}
