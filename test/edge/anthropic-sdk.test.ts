import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { recordedUsage, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

describe("the official Anthropic SDK against headroom", () => {
  let server: TestGateway;
  let client: Anthropic;

  before(async () => {
    server = await startTestGateway();
    client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
  });
  after(() => server.stop());

  test("a JSON message reports usage that the ledger recorded exactly", async () => {
    const { data: message, response } = await client.messages
      .create({
        model: "claude-sonnet-4-6",
        max_tokens: 300,
        messages: [{ role: "user", content: "Hello there" }],
      })
      .withResponse();
    assert.equal(message.type, "message");
    assert.equal(message.model, "claude-sonnet-4-6");
    assert.equal(message.content[0]?.type, "text");
    assert.ok(message.usage.output_tokens > 0);
    const requestId = response.headers.get("request-id");
    assert.match(requestId ?? "", /^req_/);
    const recorded = await recordedUsage(server, requestId);
    assert.equal(recorded.input_tokens, message.usage.input_tokens);
    assert.equal(recorded.output_tokens, message.usage.output_tokens);
    assert.equal(recorded.status, 200);
    assert.equal(recorded.streamed, false);
  });

  test("the same prompt gives the same reply (the simulated pool is deterministic)", async () => {
    const ask = () =>
      client.messages.create({
        model: "claude-haiku-4-5",
        max_tokens: 50,
        messages: [{ role: "user", content: "same" }],
      });
    const [first, second] = await Promise.all([ask(), ask()]);
    assert.deepEqual(first.content, second.content);
  });

  test("a streamed message arrives as text deltas whose final usage the ledger recorded", async () => {
    const stream = client.messages.stream({
      model: "claude-opus-4-8",
      max_tokens: 1000,
      messages: [{ role: "user", content: "Stream please sim:tokens=40" }],
    });
    let text = "";
    const seen: string[] = [];
    stream.on("text", (delta) => {
      text += delta;
    });
    stream.on("streamEvent", (event) => {
      seen.push(event.type);
    });
    const message = await stream.finalMessage();
    assert.equal(message.usage.output_tokens, 40);
    assert.equal(message.stop_reason, "end_turn");
    assert.equal(text, message.content[0]?.type === "text" ? message.content[0].text : "");
    assert.deepEqual(
      [seen[0], seen[1], seen.at(-2), seen.at(-1)],
      ["message_start", "content_block_start", "message_delta", "message_stop"],
    );
    const recorded = await recordedUsage(server, stream.request_id);
    assert.equal(recorded.output_tokens, 40);
    assert.equal(recorded.input_tokens, message.usage.input_tokens);
    assert.equal(recorded.streamed, true);
    assert.ok(recorded.ttft_ms !== null && recorded.ttft_ms >= 0);
  });

  test("max_tokens stops the reply with stop_reason max_tokens", async () => {
    const message = await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 7,
      messages: [{ role: "user", content: "long sim:tokens=500" }],
    });
    assert.equal(message.stop_reason, "max_tokens");
    assert.equal(message.usage.output_tokens, 7);
  });

  test("a tool-use round trip: the model calls the tool, then answers the tool result", async () => {
    const tools: Anthropic.Tool[] = [
      {
        name: "get_weather",
        description: "Weather for a city",
        input_schema: {
          type: "object",
          properties: { city: { type: "string" }, days: { type: "integer" } },
          required: ["city"],
        },
      },
    ];
    const messages: Anthropic.MessageParam[] = [{ role: "user", content: "Use get_weather for Paris" }];
    const first = await client.messages
      .stream({ model: "claude-sonnet-4-6", max_tokens: 500, tools, messages })
      .finalMessage();
    assert.equal(first.stop_reason, "tool_use");
    const call = first.content.find((block) => block.type === "tool_use");
    assert.ok(call && call.type === "tool_use");
    assert.equal(call.name, "get_weather");
    assert.deepEqual(call.input, { city: "city" });
    assert.match(call.id, /^toolu_/);
    messages.push({ role: "assistant", content: first.content });
    messages.push({
      role: "user",
      content: [{ type: "tool_result", tool_use_id: call.id, content: "Sunny, 21°C" }],
    });
    const second = await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 500,
      tools,
      messages,
    });
    assert.equal(second.stop_reason, "end_turn");
    assert.equal(second.content[0]?.type, "text");
  });

  test("tool_choice any forces a tool call", async () => {
    const message = await client.messages.create({
      model: "claude-haiku-4-5",
      max_tokens: 200,
      tools: [
        {
          name: "ls",
          input_schema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] },
        },
      ],
      tool_choice: { type: "any" },
      messages: [{ role: "user", content: "anything" }],
    });
    const block = message.content[0];
    assert.ok(block?.type === "tool_use");
    assert.deepEqual(block.input, { path: "README.md" });
  });

  test("thinking enabled streams a thinking block with a signature before the answer", async () => {
    const message = await client.messages
      .stream({
        model: "claude-opus-4-8",
        max_tokens: 2000,
        thinking: { type: "enabled", budget_tokens: 1024 },
        messages: [{ role: "user", content: "think sim:tokens=30" }],
      })
      .finalMessage();
    assert.deepEqual(
      message.content.map((block) => block.type),
      ["thinking", "text"],
    );
    const thinking = message.content[0];
    assert.ok(thinking?.type === "thinking" && thinking.signature.length > 0);
    assert.equal(message.usage.output_tokens, 40);
  });

  test("count_tokens counts the prompt, growing with it", async () => {
    const short = await client.messages.countTokens({
      model: "claude-sonnet-4-6",
      messages: [{ role: "user", content: "hi" }],
    });
    const long = await client.messages.countTokens({
      model: "claude-sonnet-4-6",
      system: "You are terse.",
      messages: [{ role: "user", content: "hi ".repeat(200) }],
    });
    assert.ok(short.input_tokens > 0);
    assert.ok(long.input_tokens > short.input_tokens + 150);
    const message = await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 5,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(message.usage.input_tokens, short.input_tokens);
  });

  test("models list pages with the SDK's cursor and retrieve answers one id", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list({ limit: 5 })) ids.push(model.id);
    assert.ok(ids.includes("claude-opus-4-8"));
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(ids.length, server.gateway.config.models.length);
    const one = await client.models.retrieve("claude-opus-4-8");
    assert.equal(one.display_name, "Claude Opus 4.8");
    // A future id of a known family is served through its wildcard route.
    const future = await client.models.retrieve("claude-opus-9-1");
    assert.equal(future.id, "claude-opus-9-1");
  });

  test("an unknown model is a NotFoundError from the SDK", async () => {
    await assert.rejects(
      client.messages.create({
        model: "mistral-nope",
        max_tokens: 5,
        messages: [{ role: "user", content: "x" }],
      }),
      (error: unknown) => error instanceof Anthropic.NotFoundError && error.message.includes("mistral-nope"),
    );
  });

  test("Authorization: Bearer works as well as x-api-key", async () => {
    const bearer = new Anthropic({ baseURL: server.url, apiKey: null, authToken: server.key, maxRetries: 0 });
    const message = await bearer.messages.create({
      model: "claude-haiku-4-5",
      max_tokens: 5,
      messages: [{ role: "user", content: "bearer" }],
    });
    assert.equal(message.usage.output_tokens, 5);
  });
});
