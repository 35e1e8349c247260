/**
 * A Responses API request → the Anthropic request the gateway works in. Messages, images,
 * function and custom tools, their calls and their outputs translate losslessly; what has no
 * counterpart upstream of a Messages API is dropped (hosted tools such as `web_search`,
 * reasoning items carrying another provider's encrypted state, `text.format`).
 */
import { invalidRequest } from "../../common/errors.ts";
import type { ContentBlockParam, MessagesRequest } from "../anthropic.ts";
import type { ResponseInputItem, ResponsesRequest } from "../responses.ts";
import { DEFAULT_MAX_TOKENS, imageBlock, parseArguments } from "./chat-request.ts";

type Part = { type: string; text?: string; image_url?: string | { url?: string } };

/** Tools that take free text instead of JSON arguments (Codex's `apply_patch`) are kept apart. */
export interface ResponsesContext {
  customTools: ReadonlySet<string>;
}

function partsToBlocks(content: ResponseInputItem["content"]): ContentBlockParam[] {
  if (content == null) return [];
  if (typeof content === "string") return content.length > 0 ? [{ type: "text", text: content }] : [];
  return (content as Part[]).flatMap((part): ContentBlockParam[] => {
    switch (part.type) {
      case "input_text":
      case "output_text":
      case "text":
      case "refusal":
        return part.text ? [{ type: "text", text: part.text }] : [];
      case "input_image": {
        const url = typeof part.image_url === "string" ? part.image_url : part.image_url?.url;
        return url ? [imageBlock(url)] : [];
      }
      default:
        return [];
    }
  });
}

function partsText(content: ResponseInputItem["content"]): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  return (content as Part[]).map((part) => part.text ?? "").join("\n");
}

function toolResultContent(output: ResponseInputItem["output"]): string {
  if (output === undefined) return "";
  if (typeof output === "string") return output;
  return (output as Part[]).map((part) => part.text ?? "").join("");
}

export function responsesToMessagesRequest(body: ResponsesRequest): {
  request: MessagesRequest;
  context: ResponsesContext;
} {
  const system: string[] = [];
  if (body.instructions) system.push(body.instructions);
  const messages: MessagesRequest["messages"] = [];
  const push = (role: "user" | "assistant", blocks: ContentBlockParam[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    // Calls, outputs and messages arrive as separate items but belong to one Anthropic turn.
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  const items: ResponseInputItem[] =
    typeof body.input === "string" ? [{ type: "message", role: "user", content: body.input }] : body.input;
  for (const item of items) {
    switch (item.type ?? (item.role ? "message" : undefined)) {
      case "message":
        if (item.role === "system" || item.role === "developer") system.push(partsText(item.content));
        else push(item.role === "assistant" ? "assistant" : "user", partsToBlocks(item.content));
        break;
      case "function_call":
        push("assistant", [
          {
            type: "tool_use",
            id: item.call_id ?? "",
            name: item.name ?? "",
            input: parseArguments(item.arguments ?? "{}"),
          },
        ]);
        break;
      case "custom_tool_call":
        push("assistant", [
          {
            type: "tool_use",
            id: item.call_id ?? "",
            name: item.name ?? "",
            input: { input: item.input ?? "" },
          },
        ]);
        break;
      case "function_call_output":
      case "custom_tool_call_output":
        push("user", [
          { type: "tool_result", tool_use_id: item.call_id ?? "", content: toolResultContent(item.output) },
        ]);
        break;
      default:
        // Reasoning items (another provider's encrypted state) and hosted-tool items.
        break;
    }
  }
  if (messages.length === 0) {
    throw invalidRequest(
      "input: at least one user message, or a function_call_output, is required.",
      "input",
    );
  }
  const request: MessagesRequest = {
    model: body.model,
    max_tokens: body.max_output_tokens ?? DEFAULT_MAX_TOKENS,
    messages,
    stream: body.stream === true,
  };
  if (system.length > 0) request.system = system.join("\n\n");
  // OpenAI's temperature runs 0–2, Anthropic's 0–1.
  if (body.temperature != null) request.temperature = Math.min(1, body.temperature);
  if (body.top_p != null) request.top_p = body.top_p;
  if (body.user) request.metadata = { user_id: body.user };
  const customTools = new Set<string>();
  const tools: NonNullable<MessagesRequest["tools"]> = [];
  for (const tool of body.tools ?? []) {
    if (!tool.name) continue;
    if (tool.type === "function") {
      tools.push({
        name: tool.name,
        description: tool.description ?? undefined,
        input_schema: tool.parameters ?? { type: "object", properties: {} },
      });
    } else if (tool.type === "custom") {
      customTools.add(tool.name);
      tools.push({
        name: tool.name,
        description: tool.description ?? undefined,
        input_schema: { type: "object", properties: { input: { type: "string" } }, required: ["input"] },
      });
    }
  }
  if (tools.length > 0) {
    request.tools = tools;
    const choice = body.tool_choice;
    let toolChoice: Record<string, unknown> | undefined;
    if (choice === "auto") toolChoice = { type: "auto" };
    else if (choice === "required") toolChoice = { type: "any" };
    else if (choice === "none") toolChoice = { type: "none" };
    else if (choice?.name) toolChoice = { type: "tool", name: choice.name };
    if (body.parallel_tool_calls === false && toolChoice?.type !== "none")
      toolChoice = { type: "auto", ...toolChoice, disable_parallel_tool_use: true };
    if (toolChoice) request.tool_choice = toolChoice as MessagesRequest["tool_choice"];
  }
  return { request, context: { customTools } };
}
