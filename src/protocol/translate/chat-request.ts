/**
 * Request translation between OpenAI Chat Completions and Anthropic Messages, so either
 * endpoint can reach either kind of upstream. Lossless for text, images, tools and tool
 * results; features without a counterpart (thinking blocks, n > 1, logprobs) are dropped.
 */
import type { ContentBlockParam, MessagesRequest } from "../anthropic.ts";
import type { ChatCompletionRequest, ChatMessage } from "../openai.ts";

/** Used when an OpenAI client sends no max_tokens: Anthropic requires one. */
export const DEFAULT_MAX_TOKENS = 4096;

type Part = { type: string; text?: string; image_url?: { url: string } | string };

export function imageBlock(url: string): ContentBlockParam {
  const data = /^data:([^;]+);base64,(.*)$/s.exec(url);
  if (data) return { type: "image", source: { type: "base64", media_type: data[1], data: data[2] } };
  return { type: "image", source: { type: "url", url } };
}

function chatContentToBlocks(content: ChatMessage["content"]): ContentBlockParam[] {
  if (content == null) return [];
  if (typeof content === "string") return content.length > 0 ? [{ type: "text", text: content }] : [];
  return (content as Part[]).flatMap((part): ContentBlockParam[] => {
    if (part.type === "text") return [{ type: "text", text: part.text ?? "" }];
    if (part.type === "image_url") {
      const url = typeof part.image_url === "string" ? part.image_url : (part.image_url?.url ?? "");
      return [imageBlock(url)];
    }
    return [];
  });
}

function chatContentText(content: ChatMessage["content"]): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  return (content as Part[]).map((part) => part.text ?? "").join("");
}

export function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Models sometimes emit invalid JSON; keep it visible rather than drop the call.
    return { _raw: text };
  }
}

export function chatToMessagesRequest(chat: ChatCompletionRequest): MessagesRequest {
  const system: string[] = [];
  const messages: MessagesRequest["messages"] = [];
  const push = (role: "user" | "assistant", blocks: ContentBlockParam[]) => {
    const last = messages[messages.length - 1];
    // Tool results arrive as separate OpenAI messages but belong to one Anthropic user turn.
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const message of chat.messages) {
    switch (message.role) {
      case "system":
      case "developer":
        system.push(chatContentText(message.content));
        break;
      case "user":
        push("user", chatContentToBlocks(message.content));
        break;
      case "assistant": {
        const blocks = chatContentToBlocks(message.content);
        for (const call of message.tool_calls ?? []) {
          blocks.push({
            type: "tool_use",
            id: call.id,
            name: call.function.name,
            input: parseArguments(call.function.arguments),
          });
        }
        push("assistant", blocks);
        break;
      }
      case "tool":
      case "function":
        push("user", [
          {
            type: "tool_result",
            tool_use_id: message.tool_call_id ?? message.name ?? "",
            content: chatContentText(message.content),
          },
        ]);
        break;
    }
  }
  const request: MessagesRequest = {
    model: chat.model,
    max_tokens: chat.max_completion_tokens ?? chat.max_tokens ?? DEFAULT_MAX_TOKENS,
    messages,
    stream: chat.stream === true,
  };
  if (system.length > 0) request.system = system.join("\n\n");
  // OpenAI's temperature runs 0–2, Anthropic's 0–1.
  if (chat.temperature != null) request.temperature = Math.min(1, chat.temperature);
  if (chat.top_p != null) request.top_p = chat.top_p;
  if (chat.stop != null) request.stop_sequences = typeof chat.stop === "string" ? [chat.stop] : chat.stop;
  if (chat.user) request.metadata = { user_id: chat.user };
  if (chat.tools && chat.tools.length > 0) {
    request.tools = chat.tools.map((tool) => ({
      name: tool.function.name,
      description: tool.function.description,
      input_schema: tool.function.parameters ?? { type: "object", properties: {} },
    }));
  }
  const choice = chat.tool_choice;
  if (choice === "auto") request.tool_choice = { type: "auto" };
  else if (choice === "required") request.tool_choice = { type: "any" };
  else if (choice === "none") request.tool_choice = { type: "none" };
  else if (choice) request.tool_choice = { type: "tool", name: choice.function.name };
  return request;
}

function blocksToChatParts(blocks: ContentBlockParam[]): Part[] {
  return blocks.flatMap((block): Part[] => {
    if (block.type === "text") return [{ type: "text", text: String(block.text ?? "") }];
    if (block.type === "image") {
      const source = block.source as { type: string; media_type?: string; data?: string; url?: string };
      const url =
        source.type === "base64" ? `data:${source.media_type};base64,${source.data}` : (source.url ?? "");
      return [{ type: "image_url", image_url: { url } }];
    }
    return [];
  });
}

function toolResultText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (part as Part).text ?? "").join("");
  return "";
}

/** Anthropic request → OpenAI request, for OpenAI-compatible upstreams (vLLM, SGLang, …). */
export function messagesToChatRequest(request: MessagesRequest, model: string): Record<string, unknown> {
  const messages: Array<Record<string, unknown>> = [];
  if (typeof request.system === "string") messages.push({ role: "system", content: request.system });
  else if (request.system)
    messages.push({ role: "system", content: request.system.map((block) => block.text ?? "").join("\n") });
  for (const message of request.messages) {
    const blocks: ContentBlockParam[] =
      typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content;
    if (message.role === "assistant") {
      const text = blocks
        .filter((block) => block.type === "text")
        .map((block) => String(block.text))
        .join("");
      const toolCalls = blocks
        .filter((block) => block.type === "tool_use")
        .map((block) => ({
          id: block.id,
          type: "function",
          function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
        }));
      messages.push({
        role: "assistant",
        content: text || null,
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      });
      continue;
    }
    for (const block of blocks) {
      if (block.type === "tool_result") {
        messages.push({
          role: "tool",
          tool_call_id: block.tool_use_id,
          content: toolResultText(block.content),
        });
      }
    }
    const parts = blocksToChatParts(blocks);
    if (parts.length > 0) {
      const onlyText = parts.every((part) => part.type === "text");
      messages.push({
        role: message.role === "system" ? "system" : "user",
        content: onlyText ? parts.map((part) => part.text).join("") : parts,
      });
    }
  }
  const chat: Record<string, unknown> = { model, messages, max_tokens: request.max_tokens };
  if (request.stream) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  if (request.temperature !== undefined) chat.temperature = request.temperature;
  if (request.top_p !== undefined) chat.top_p = request.top_p;
  if (request.stop_sequences) chat.stop = request.stop_sequences;
  const tools = (request.tools ?? []).filter((tool) => tool.input_schema !== undefined);
  if (tools.length > 0) {
    chat.tools = tools.map((tool) => ({
      type: "function",
      function: { name: tool.name, description: tool.description, parameters: tool.input_schema },
    }));
  }
  const choice = request.tool_choice as { type: string; name?: string } | undefined;
  if (choice?.type === "auto") chat.tool_choice = "auto";
  else if (choice?.type === "any") chat.tool_choice = "required";
  else if (choice?.type === "none") chat.tool_choice = "none";
  else if (choice?.type === "tool") chat.tool_choice = { type: "function", function: { name: choice.name } };
  return chat;
}
