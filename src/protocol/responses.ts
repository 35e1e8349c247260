/**
 * The OpenAI Responses wire format (https://platform.openai.com/docs/api-reference/responses),
 * as the Codex CLI speaks it (../shared/spec/api.md §9): the request schema, loose enough to
 * keep every field a client sends, and the shapes headroom answers with.
 */
import { z } from "zod";

const contentPartSchema = z.looseObject({ type: z.string() });

/** An input item. Items without a `type` but with a `role` are messages (the short form). */
export const responseInputItemSchema = z.looseObject({
  type: z.string().optional(),
  role: z.enum(["system", "developer", "user", "assistant"]).optional(),
  content: z
    .union([z.string(), z.array(contentPartSchema)])
    .nullable()
    .optional(),
  call_id: z.string().optional(),
  name: z.string().optional(),
  arguments: z.string().optional(),
  input: z.string().optional(),
  output: z.union([z.string(), z.array(contentPartSchema)]).optional(),
});

export const responseToolSchema = z.looseObject({
  type: z.string(),
  name: z.string().optional(),
  description: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
});

export const responsesRequestSchema = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(responseInputItemSchema)]),
  instructions: z.string().nullable().optional(),
  max_output_tokens: z.number().int().min(1).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  tools: z.array(responseToolSchema).optional(),
  tool_choice: z
    .union([
      z.enum(["none", "auto", "required"]),
      z.looseObject({ type: z.string(), name: z.string().optional() }),
    ])
    .optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  previous_response_id: z.string().nullable().optional(),
  user: z.string().optional(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
export type ResponseInputItem = z.infer<typeof responseInputItemSchema>;

export interface OutputText {
  type: "output_text";
  text: string;
  annotations: unknown[];
}

export type ResponseOutputItem =
  | { type: "message"; id: string; status: ItemStatus; role: "assistant"; content: OutputText[] }
  | {
      type: "function_call";
      id: string;
      status: ItemStatus;
      call_id: string;
      name: string;
      arguments: string;
    }
  | { type: "reasoning"; id: string; status: ItemStatus; summary: unknown[] };

export type ItemStatus = "in_progress" | "completed" | "incomplete";

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export interface ResponseObject {
  id: string;
  object: "response";
  created_at: number;
  status: "in_progress" | "completed" | "incomplete" | "failed";
  model: string;
  output: ResponseOutputItem[];
  usage: ResponseUsage | null;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: string } | null;
  [field: string]: unknown;
}
