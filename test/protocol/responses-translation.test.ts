import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Message, sseEvent } from "../../src/protocol/anthropic.ts";
import { responsesRequestSchema } from "../../src/protocol/responses.ts";
import { responsesToMessagesRequest } from "../../src/protocol/translate/responses-request.ts";
import {
  AnthropicToResponseEvents,
  messageToResponse,
} from "../../src/protocol/translate/responses-stream.ts";

const translate = (body: Record<string, unknown>) =>
  responsesToMessagesRequest(responsesRequestSchema.parse({ model: "gpt-5.5", ...body }));

describe("Responses request → Messages request", () => {
  test("calls and outputs join the turns they belong to; reasoning and hosted tools are dropped", () => {
    const { request, context } = translate({
      input: [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "Rules." }] },
        { role: "user", content: "run ls" },
        { type: "reasoning", id: "rs_1", encrypted_content: "opaque", summary: [] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Running." }] },
        { type: "function_call", call_id: "c1", name: "exec", arguments: '{"cmd":"ls"}' },
        { type: "custom_tool_call", call_id: "c2", name: "apply_patch", input: "*** Begin Patch" },
        { type: "function_call_output", call_id: "c1", output: "a.txt" },
        { type: "custom_tool_call_output", call_id: "c2", output: [{ type: "input_text", text: "ok" }] },
        {
          role: "user",
          content: [{ type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "auto" }],
        },
      ],
      tools: [
        {
          type: "function",
          name: "exec",
          parameters: { type: "object", properties: { cmd: { type: "string" } } },
        },
        { type: "custom", name: "apply_patch", description: "Patch files" },
        { type: "web_search" },
        { type: "tool_search" },
      ],
      tool_choice: "required",
      parallel_tool_calls: false,
    });
    assert.equal(request.system, "Rules.");
    assert.deepEqual(request.messages, [
      { role: "user", content: [{ type: "text", text: "run ls" }] },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Running." },
          { type: "tool_use", id: "c1", name: "exec", input: { cmd: "ls" } },
          { type: "tool_use", id: "c2", name: "apply_patch", input: { input: "*** Begin Patch" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "c1", content: "a.txt" },
          { type: "tool_result", tool_use_id: "c2", content: "ok" },
          { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } },
        ],
      },
    ]);
    assert.deepEqual(
      request.tools?.map((tool) => tool.name),
      ["exec", "apply_patch"],
    );
    assert.deepEqual(request.tool_choice, { type: "any", disable_parallel_tool_use: true });
    assert.deepEqual([...context.customTools], ["apply_patch"]);
  });

  test("max_output_tokens, temperature (capped at 1) and a named tool choice carry over", () => {
    const { request } = translate({
      input: "hi",
      max_output_tokens: 77,
      temperature: 1.6,
      tools: [{ type: "function", name: "f" }],
      tool_choice: { type: "function", name: "f" },
    });
    assert.equal(request.max_tokens, 77);
    assert.equal(request.temperature, 1);
    assert.deepEqual(request.tool_choice, { type: "tool", name: "f" });
  });
});

describe("Messages answer → Responses answer", () => {
  const message = (content: Message["content"], stop: Message["stop_reason"]): Message => ({
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-6",
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: {
      input_tokens: 10,
      output_tokens: 5,
      cache_creation_input_tokens: 2,
      cache_read_input_tokens: 30,
    },
  });

  test("text and a free-text tool call become a message and a custom_tool_call, usage counted OpenAI's way", () => {
    const translator = new AnthropicToResponseEvents("resp_1", "gpt-5.5", {}, new Set(["apply_patch"]));
    const response = messageToResponse(
      message(
        [
          { type: "text", text: "Patching." },
          { type: "tool_use", id: "toolu_1", name: "apply_patch", input: { input: "*** Begin Patch" } },
        ],
        "tool_use",
      ),
      translator,
    );
    assert.equal(response.status, "completed");
    assert.equal(response.output.length, 2);
    const [text, call] = response.output as Array<Record<string, unknown>>;
    assert.equal(text?.type, "message");
    assert.deepEqual(text?.content, [{ type: "output_text", text: "Patching.", annotations: [] }]);
    assert.equal(call?.type, "custom_tool_call");
    assert.equal(call?.call_id, "toolu_1");
    assert.equal(call?.input, "*** Begin Patch");
    assert.deepEqual(response.usage, {
      input_tokens: 42,
      input_tokens_details: { cached_tokens: 30 },
      output_tokens: 5,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 47,
    });
  });

  test("an upstream error event mid-stream becomes response.failed", () => {
    const translator = new AnthropicToResponseEvents("resp_1", "gpt-5.5", {});
    translator.translate(sseEvent({ type: "message_start", message: message([], null) }));
    const [failed] = translator.translate(
      sseEvent({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }),
    );
    assert.equal(failed?.type, "response.failed");
    assert.deepEqual((failed?.response as { error: unknown } | undefined)?.error, {
      code: "overloaded_error",
      message: "Overloaded",
    });
  });
});
