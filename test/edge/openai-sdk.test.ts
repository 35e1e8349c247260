import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { recordedUsage, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

describe("the official OpenAI SDK against headroom", () => {
  let server: TestGateway;
  let client: OpenAI;

  before(async () => {
    server = await startTestGateway();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
  });
  after(() => server.stop());

  test("a chat completion reports usage that the ledger recorded exactly", async () => {
    const { data: completion, response } = await client.chat.completions
      .create({
        model: "claude-sonnet-4-6",
        max_completion_tokens: 200,
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hello sim:tokens=12" },
        ],
      })
      .withResponse();
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.choices[0]?.finish_reason, "stop");
    assert.ok((completion.choices[0]?.message.content ?? "").length > 0);
    assert.equal(completion.usage?.completion_tokens, 12);
    const requestId = response.headers.get("x-request-id");
    const recorded = await recordedUsage(server, requestId);
    assert.equal(recorded.endpoint, "openai");
    assert.equal(recorded.output_tokens, completion.usage?.completion_tokens);
    assert.equal(recorded.input_tokens, completion.usage?.prompt_tokens);
  });

  test("a stream with include_usage ends with a usage chunk and [DONE]", async () => {
    const stream = await client.chat.completions.create({
      model: "claude-opus-4-8",
      max_tokens: 100,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "stream sim:tokens=25" }],
    });
    let text = "";
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? "";
      finish ??= chunk.choices[0]?.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(chunks > 3);
    assert.equal(finish, "stop");
    assert.equal(usage?.completion_tokens, 25);
    assert.equal(text.split(" ").length, 25);
  });

  test("a streamed length stop maps max_tokens to finish_reason length", async () => {
    const final = await client.chat.completions
      .stream({
        model: "claude-haiku-4-5",
        max_tokens: 4,
        messages: [{ role: "user", content: "long sim:tokens=90" }],
      })
      .finalChatCompletion();
    assert.equal(final.choices[0]?.finish_reason, "length");
  });

  test("a tool call round trip through the OpenAI shape", async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: "function",
        function: {
          name: "lookup",
          description: "Look something up",
          parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
        },
      },
    ];
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: "user", content: "please lookup the answer" },
    ];
    const first = await client.chat.completions
      .stream({ model: "claude-sonnet-4-6", max_tokens: 300, tools, messages })
      .finalChatCompletion();
    const choice = first.choices[0];
    assert.equal(choice?.finish_reason, "tool_calls");
    const call = choice?.message.tool_calls?.[0];
    assert.ok(call && call.type === "function");
    assert.equal(call.function.name, "lookup");
    assert.deepEqual(JSON.parse(call.function.arguments), { query: "query" });
    messages.push({ role: "assistant", content: null, tool_calls: [call] });
    messages.push({ role: "tool", tool_call_id: call.id, content: "42" });
    const second = await client.chat.completions.create({
      model: "claude-sonnet-4-6",
      max_tokens: 300,
      tools,
      messages,
    });
    assert.equal(second.choices[0]?.finish_reason, "stop");
    assert.ok(second.choices[0]?.message.content);
  });

  test("models list works with the OpenAI SDK", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      assert.equal(model.object, "model");
      assert.equal(typeof model.created, "number");
      ids.push(model.id);
    }
    assert.ok(ids.includes("claude-sonnet-4-6"));
  });

  test("errors come back in OpenAI's envelope: a bad key is AuthenticationError", async () => {
    const bad = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-hr-wrong", maxRetries: 0 });
    await assert.rejects(
      bad.chat.completions.create({ model: "claude-sonnet-4-6", messages: [{ role: "user", content: "x" }] }),
      (error: unknown) => error instanceof OpenAI.AuthenticationError && error.code === "invalid_api_key",
    );
    await assert.rejects(
      client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
      (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === "model_not_found",
    );
  });
});
