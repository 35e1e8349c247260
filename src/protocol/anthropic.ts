/**
 * The Anthropic Messages wire format (https://docs.anthropic.com/en/api/messages): request
 * schemas for the edge, and the shapes of responses and stream events headroom produces.
 * Request schemas are loose: unknown fields are kept so real upstreams receive them untouched.
 */
import { z } from "zod";

const contentBlock = z.looseObject({ type: z.string() });

export const anthropicMessageSchema = z.looseObject({
  // Claude Code's beta feature sends `role: "system"` entries in the middle of messages, so
  // the role is not restricted to user/assistant here.
  role: z.string(),
  content: z.union([z.string(), z.array(contentBlock)]),
});

const systemSchema = z.union([
  z.string(),
  z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
]);

const toolSchema = z.looseObject({ name: z.string().min(1) });

const countTokensFields = {
  model: z.string().min(1),
  messages: z.array(anthropicMessageSchema).min(1),
  system: systemSchema.optional(),
  tools: z.array(toolSchema).optional(),
  tool_choice: z.looseObject({ type: z.string() }).optional(),
  thinking: z.looseObject({ type: z.string() }).optional(),
};

export const messagesRequestSchema = z.looseObject({
  ...countTokensFields,
  max_tokens: z.number().int().min(1),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  stop_sequences: z.array(z.string()).optional(),
  metadata: z.looseObject({}).optional(),
});

export const countTokensRequestSchema = z.looseObject(countTokensFields);

export type AnthropicMessageParam = z.infer<typeof anthropicMessageSchema>;
export type MessagesRequest = z.infer<typeof messagesRequestSchema>;
export type CountTokensRequest = z.infer<typeof countTokensRequestSchema>;
export type ContentBlockParam = z.infer<typeof contentBlock>;

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** Of the cache writes, those kept for an hour (priced above 5-minute ones); none if absent. */
  cache_creation_1h_input_tokens?: number;
}

export type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "pause_turn" | "refusal";

export type ContentBlock =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: unknown };

export interface Message {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: ContentBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  usage: Usage & { service_tier?: string };
}

/** One server-sent event. `data` stays JSON text so passthrough never re-serializes it. */
export interface SseEvent {
  event: string;
  data: string;
  /**
   * The upstream's own bytes for this event, when the client speaks the upstream's protocol
   * (a Responses request passed through to an OpenAI server): the surface forwards them
   * untouched, and the event/data above only feed the meter. "" = meter only, send nothing.
   */
  native?: string;
  /**
   * The event's text exactly as an Anthropic upstream sent it (`event: …\ndata: …\n\n`), set
   * only by the SSE parser: the Messages surface writes it as it came. Whoever builds or
   * changes an event builds a new one without it.
   */
  raw?: string;
}

export const emptyUsage = (): Usage => ({
  input_tokens: 0,
  output_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
});

export function sseEvent(payload: { type: string; [field: string]: unknown }): SseEvent {
  return { event: payload.type, data: JSON.stringify(payload) };
}
