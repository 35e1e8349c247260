import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { type FakeUpstream, startFakeOpenAI } from "../helpers/fake-upstreams.ts";
import { catalogModel, serveLlamaFrom, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

describe("the OpenAI-compatible upstream adapter against a server speaking the OpenAI wire format", () => {
  let upstream: FakeUpstream;
  let server: TestGateway;
  let anthropic: Anthropic;

  before(async () => {
    upstream = await startFakeOpenAI();
    server = await startTestGateway({
      configure(config) {
        serveLlamaFrom(config, upstream.url);
        // Ids under llama-* go upstream as sent, so the fake server can key its behaviour on them.
        config.models.push(catalogModel("llama-any", { family: "llama", upstream: "vllm" }));
        config.routes.unshift({ match: "llama-*", model: "llama-any" });
      },
    });
    anthropic = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  const lastRequest = () => upstream.requests[upstream.requests.length - 1];

  test("an Anthropic request is translated, sent with the upstream's model id and key, and translated back", async () => {
    const message = await anthropic.messages.create({
      model: "llama",
      max_tokens: 50,
      system: "Be brief.",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(lastRequest()?.path, "/v1/chat/completions");
    assert.equal(lastRequest()?.headers.authorization, "Bearer vllm-key");
    assert.equal(lastRequest()?.body.model, "meta-llama/Llama-3.3-70B-Instruct");
    assert.deepEqual(lastRequest()?.body.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi" },
    ]);
    assert.equal(message.model, "llama");
    assert.deepEqual(message.content, [{ type: "text", text: "Hi from vLLM" }]);
    assert.equal(message.usage.input_tokens, 12);
    assert.equal(message.usage.cache_read_input_tokens, 8);
    assert.equal(message.usage.output_tokens, 6);
  });

  test("an Anthropic stream is built from OpenAI chunks, with the usage chunk's counts", async () => {
    const message = await anthropic.messages
      .stream({ model: "llama-stream", max_tokens: 50, messages: [{ role: "user", content: "hi" }] })
      .finalMessage();
    assert.equal(lastRequest()?.body.stream, true);
    assert.deepEqual(lastRequest()?.body.stream_options, { include_usage: true });
    assert.deepEqual(message.content, [{ type: "text", text: "Hi from vLLM" }]);
    assert.equal(message.usage.output_tokens, 6);
    assert.equal(message.stop_reason, "end_turn");
  });

  test("streamed tool calls become tool_use blocks with the joined arguments", async () => {
    const message = await anthropic.messages
      .stream({
        model: "llama",
        max_tokens: 50,
        tools: [{ name: "lookup", input_schema: { type: "object", properties: { q: { type: "string" } } } }],
        messages: [{ role: "user", content: "look it up" }],
      })
      .finalMessage();
    assert.equal(message.stop_reason, "tool_use");
    assert.deepEqual(message.content, [
      { type: "tool_use", id: "call_1", name: "lookup", input: { q: "x" } },
    ]);
    const sentTools = lastRequest()?.body.tools as Array<{ type: string; function: { name: string } }>;
    assert.equal(sentTools[0]?.function.name, "lookup");
  });

  test("tool results go upstream as tool messages", async () => {
    await anthropic.messages.create({
      model: "llama",
      max_tokens: 50,
      messages: [
        { role: "user", content: "look it up" },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "call_1", name: "lookup", input: { q: "x" } }],
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: "found" }] },
      ],
    });
    const messages = lastRequest()?.body.messages as Array<Record<string, unknown>>;
    assert.deepEqual(messages[1], {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"x"}' } }],
    });
    assert.deepEqual(messages[2], { role: "tool", tool_call_id: "call_1", content: "found" });
  });

  test("the OpenAI endpoint reaches the OpenAI upstream (both translations in a row)", async () => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: "llama",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "hi" }],
    });
    let text = "";
    let completionTokens = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
    }
    assert.equal(text, "Hi from vLLM");
    assert.equal(completionTokens, 6);
  });

  test("a stream the upstream cuts mid-way ends in an error, with the usage so far recorded", async () => {
    const stream = anthropic.messages.stream({
      model: "llama-cut",
      max_tokens: 50,
      messages: [{ role: "user", content: "hi" }],
    });
    await assert.rejects(stream.finalMessage());
    await server.gateway.ledger.flush();
    const [event] = await server.gateway.ledger.events({ account: "test", limit: 1 });
    assert.equal(event?.model, "llama-cut");
    assert.equal(event?.status, 502);
    assert.equal(event?.output_tokens, 1, "the one token ('Hi') that was streamed");
  });
});
