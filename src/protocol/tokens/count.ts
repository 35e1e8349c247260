/**
 * Local token counting. Claude's tokenizer is not public, so headroom counts with OpenAI's
 * o200k_base BPE (gpt-tokenizer): close enough for admission estimates and for the simulated
 * upstream, and reconciled against the upstream's own usage when a real upstream answers.
 */
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import type { CountTokensRequest } from "../anthropic.ts";

export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
}

/** Fixed framing cost per message and per tool, as chat formats add role and separator tokens. */
const PER_MESSAGE_OVERHEAD = 3;
const PER_TOOL_OVERHEAD = 8;

function blockText(block: Record<string, unknown>): string {
  switch (block.type) {
    case "text":
      return String(block.text ?? "");
    case "thinking":
      return String(block.thinking ?? "");
    case "tool_use":
    case "server_tool_use":
      return `${block.name ?? ""} ${JSON.stringify(block.input ?? {})}`;
    case "tool_result": {
      const content = block.content;
      if (typeof content === "string") return content;
      if (Array.isArray(content)) return content.map((part) => blockText(part)).join("\n");
      return "";
    }
    case "image":
    case "document":
      // Images are priced by pixels upstream; without decoding, count a typical tile cost.
      return "";
    default:
      return JSON.stringify(block);
  }
}

const IMAGE_TOKENS = 1_600;

/** Counts the input tokens of a Messages request: system, messages and tool definitions. */
export function countRequestTokens(request: CountTokensRequest): number {
  let total = 0;
  if (typeof request.system === "string") total += countTextTokens(request.system);
  else if (request.system) {
    for (const block of request.system) total += countTextTokens(block.text ?? "");
  }
  for (const message of request.messages) {
    total += PER_MESSAGE_OVERHEAD;
    if (typeof message.content === "string") {
      total += countTextTokens(message.content);
      continue;
    }
    for (const block of message.content) {
      if (block.type === "image" || block.type === "document") total += IMAGE_TOKENS;
      else total += countTextTokens(blockText(block));
    }
  }
  for (const tool of request.tools ?? []) {
    total += PER_TOOL_OVERHEAD + countTextTokens(JSON.stringify(tool));
  }
  return Math.max(1, total);
}
