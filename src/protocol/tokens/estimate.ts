/**
 * Cheap token estimates for the request path. Byte-pair encoding a whole prompt costs the event
 * loop ≈0.7 ms per 1,000 tokens (a 114k-token Claude Code prompt: 72–96 ms, every request), and
 * the upstream reports the exact count anyway; so admission estimates from string lengths and
 * the limiter is reconciled with the upstream's numbers when the request ends. Exact counting
 * (count.ts) stays for /v1/messages/count_tokens and for the simulated upstream, which plays
 * the GPU and must report usage itself.
 */
import type { CountTokensRequest } from "../anthropic.ts";

/**
 * Characters per token assumed. Measured with o200k_base on English docs and TypeScript
 * source: 3.5–4.4; Claude's tokenizer yields somewhat more tokens per character than o200k.
 * 3.5 leans towards counting more, so an estimate rarely admits what the reconciliation refuses.
 */
export const CHARS_PER_TOKEN = 3.5;

/** Same framing costs as the exact count (count.ts), so the two agree on short prompts. */
const PER_MESSAGE_OVERHEAD = 3;
const PER_TOOL_OVERHEAD = 8;
const IMAGE_TOKENS = 1_600;

export function estimateTextTokens(characters: number): number {
  return characters === 0 ? 0 : Math.ceil(characters / CHARS_PER_TOKEN);
}

/** The characters of every string under `value` (keys included for objects), without copying. */
function stringCharacters(value: unknown, depth = 0): number {
  if (typeof value === "string") return value.length;
  if (typeof value === "number" || typeof value === "boolean") return 4;
  if (value === null || typeof value !== "object" || depth > 32) return 0;
  let total = 0;
  if (Array.isArray(value)) {
    for (const item of value) total += stringCharacters(item, depth + 1);
    return total;
  }
  for (const key in value) {
    total += key.length + stringCharacters((value as Record<string, unknown>)[key], depth + 1);
  }
  return total;
}

function blockCharacters(block: Record<string, unknown>): number {
  switch (block.type) {
    case "text":
      return typeof block.text === "string" ? block.text.length : 0;
    case "thinking":
      return typeof block.thinking === "string" ? block.thinking.length : 0;
    case "tool_use":
    case "server_tool_use":
      return stringCharacters(block.name) + stringCharacters(block.input);
    case "tool_result": {
      const content = block.content;
      if (typeof content === "string") return content.length;
      if (!Array.isArray(content)) return 0;
      let total = 0;
      for (const part of content) total += blockCharacters(part as Record<string, unknown>);
      return total;
    }
    case "image":
    case "document":
      return 0;
    default:
      return stringCharacters(block);
  }
}

/** Estimated input tokens of a Messages request: system, messages and tool definitions. */
export function estimateRequestTokens(request: CountTokensRequest): number {
  let total = 0;
  if (typeof request.system === "string") total += estimateTextTokens(request.system.length);
  else if (request.system) {
    for (const block of request.system) total += estimateTextTokens(block.text?.length ?? 0);
  }
  for (const message of request.messages) {
    total += PER_MESSAGE_OVERHEAD;
    if (typeof message.content === "string") {
      total += estimateTextTokens(message.content.length);
      continue;
    }
    for (const block of message.content) {
      if (block.type === "image" || block.type === "document") total += IMAGE_TOKENS;
      else total += estimateTextTokens(blockCharacters(block as Record<string, unknown>));
    }
  }
  for (const tool of request.tools ?? [])
    total += PER_TOOL_OVERHEAD + estimateTextTokens(stringCharacters(tool));
  return Math.max(1, total);
}
