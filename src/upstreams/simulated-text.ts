/**
 * Deterministic content for the simulated upstream: the same prompt always yields the same
 * reply, so tests and demos are reproducible. Replies are built from pieces that are each one
 * token, so streamed text and reported usage agree exactly.
 */
import type { AnthropicMessageParam, MessagesRequest } from "../protocol/anthropic.ts";

// Each entry is one o200k token both with and without a leading space (checked by a test).
export const WORDS = (
  "the model tokens from a fleet of and each plan gets its share . capacity " +
  "when new site joins limits rise requests flow through gateway with care data center power " +
  "orbit sun light time window hours week usage budget fair fast steady load queue slot batch " +
  "decode memory compute cluster region peak quiet night day agent code test " +
  "build ship review plan solar panel heat cool rack row team"
)
  .split(" ")
  .filter((word) => word.length > 0);

/** FNV-1a: a small, stable string hash for seeding. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: a tiny seeded PRNG; reproducibility matters here, not statistical quality. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` one-token pieces of prose; the first has no leading space. */
export function generatePieces(random: () => number, count: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < count; i++) {
    const word = WORDS[Math.floor(random() * WORDS.length)] ?? "the";
    pieces.push(i === 0 ? word : ` ${word}`);
  }
  return pieces;
}

export function messageText(message: AnthropicMessageParam): string {
  if (typeof message.content === "string") return message.content;
  return message.content
    .map((block) => (block.type === "text" && typeof block.text === "string" ? block.text : ""))
    .join("\n");
}

export function lastUserMessage(request: MessagesRequest): AnthropicMessageParam | undefined {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i];
    if (message?.role === "user") return message;
  }
  return undefined;
}

const LENGTH_DIRECTIVE = /sim:tokens=(\d{1,7})/;

/**
 * How many tokens the reply has: `sim:tokens=N` in the last user message asks for exactly N
 * (documented in docs/simulated-upstream.md, for demos and tests); otherwise the profile's
 * typical length varied ±25% by the prompt's hash. Always capped by max_tokens.
 */
export function replyLength(text: string, typical: number, seed: number): number {
  const asked = LENGTH_DIRECTIVE.exec(text);
  if (asked?.[1]) return Number(asked[1]);
  const spread = Math.floor(typical / 4);
  return Math.max(1, typical - spread + (seed % (2 * spread + 1)));
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  items?: JsonSchema;
};

/** A plausible value for a JSON Schema, so a simulated tool call passes client validation. */
export function sampleFromSchema(schema: JsonSchema | undefined, name = "value"): unknown {
  if (!schema) return {};
  if (schema.enum && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return /path|file/i.test(name) ? "README.md" : /command|cmd/i.test(name) ? "ls" : name;
    case "number":
    case "integer":
      return 1;
    case "boolean":
      return true;
    case "array":
      return [];
    case "null":
      return null;
    default: {
      const properties = schema.properties ?? {};
      const keys = schema.required ?? Object.keys(properties).slice(0, 3);
      const value: Record<string, unknown> = {};
      for (const key of keys) value[key] = sampleFromSchema(properties[key], key);
      return value;
    }
  }
}

type ToolDefinition = { name: string; input_schema?: JsonSchema };

/**
 * The tool to call, if any: forced by tool_choice (`any` / `tool`), or named in the latest
 * user turn. A turn that carries tool results gets a text answer, ending the loop.
 */
export function chooseTool(request: MessagesRequest): ToolDefinition | undefined {
  const tools = (request.tools ?? []) as ToolDefinition[];
  const choice = request.tool_choice as { type: string; name?: string } | undefined;
  if (tools.length === 0 || choice?.type === "none") return undefined;
  const last = request.messages[request.messages.length - 1];
  if (last?.role !== "user") return undefined;
  if (Array.isArray(last.content) && last.content.some((block) => block.type === "tool_result")) {
    return undefined;
  }
  if (choice?.type === "tool") return tools.find((tool) => tool.name === choice.name);
  if (choice?.type === "any") return tools[0];
  const text = messageText(last).toLowerCase();
  return tools.find((tool) => text.includes(tool.name.toLowerCase()));
}
