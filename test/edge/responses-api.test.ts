import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { parseSse } from "../../src/protocol/sse-parser.ts";
import {
  FAKE_RESPONSE_EVENTS,
  type FakeUpstream,
  startFakeAnthropic,
  startFakeOpenAI,
} from "../helpers/fake-upstreams.ts";
import {
  catalogModel,
  httpUpstream,
  readSse,
  recordedUsage,
  serveLlamaFrom,
  startTestGateway,
  type TestGateway,
} from "../helpers/gateway.ts";

type StreamEvent = OpenAI.Responses.ResponseStreamEvent;

/** The Codex CLI's real request (../shared/fixtures), long texts replaced by their length. */
const codexFixture = JSON.parse(
  readFileSync(new URL("../fixtures/codex-responses-request.json", import.meta.url), "utf8"),
) as { headers: Record<string, string>; body: Record<string, unknown> };

const lookupTool: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "lookup",
  description: "Look something up",
  strict: false,
  parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
};

/** Checks the order the Responses API promises for one streamed answer. */
function assertWellFormed(events: StreamEvent[]): void {
  assert.deepEqual(
    events.map((event) => event.sequence_number),
    events.map((_, index) => index),
    "sequence numbers count up from 0",
  );
  assert.equal(events[0]?.type, "response.created");
  assert.equal(events[1]?.type, "response.in_progress");
  const last = events[events.length - 1];
  assert.ok(last && ["response.completed", "response.incomplete"].includes(last.type));
  // Every item added is done, in the same output slot, before the response ends.
  const added = events.filter((event) => event.type === "response.output_item.added");
  const done = events.filter((event) => event.type === "response.output_item.done");
  assert.deepEqual(
    added.map((event) => event.output_index),
    done.map((event) => event.output_index),
  );
}

describe("the Responses API (POST /v1/responses) with the official OpenAI SDK", () => {
  let server: TestGateway;
  let client: OpenAI;

  before(async () => {
    server = await startTestGateway();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
  });
  after(() => server.stop());

  test("a JSON answer carries output_text and usage, and the ledger recorded the same numbers", async () => {
    const { data: response, response: http } = await client.responses
      .create({
        model: "claude-sonnet-4-6",
        instructions: "Be brief.",
        input: "Hello sim:tokens=17",
      })
      .withResponse();
    assert.equal(response.object, "response");
    assert.equal(response.status, "completed");
    assert.match(response.id, /^resp_/);
    assert.equal(response.model, "claude-sonnet-4-6");
    assert.equal(response.instructions, "Be brief.");
    assert.equal(response.output_text.split(" ").length, 17);
    assert.equal(response.usage?.output_tokens, 17);
    const recorded = await recordedUsage(server, http.headers.get("x-request-id"));
    assert.equal(recorded.endpoint, "openai");
    assert.equal(recorded.output_tokens, response.usage?.output_tokens);
    assert.equal(recorded.input_tokens, response.usage?.input_tokens);
    assert.equal(response.usage?.total_tokens, recorded.input_tokens + recorded.output_tokens);
  });

  test("a stream has the documented event order, and its deltas add up to the completed text", async () => {
    const stream = await client.responses.create({
      model: "claude-opus-4-8",
      input: [{ role: "user", content: [{ type: "input_text", text: "stream sim:tokens=30" }] }],
      stream: true,
    });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event);
    assertWellFormed(events);
    const types = events.map((event) => event.type);
    const firstDelta = types.indexOf("response.output_text.delta");
    assert.deepEqual(types.slice(2, firstDelta), [
      "response.output_item.added",
      "response.content_part.added",
    ]);
    assert.deepEqual(types.slice(-4), [
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const text = events
      .filter((event) => event.type === "response.output_text.delta")
      .map((event) => event.delta)
      .join("");
    const completed = events[events.length - 1] as OpenAI.Responses.ResponseCompletedEvent;
    assert.equal(completed.response.status, "completed");
    assert.equal(completed.response.usage?.output_tokens, 30);
    const message = completed.response.output[0];
    assert.ok(message?.type === "message");
    const part = message.content[0];
    assert.ok(part?.type === "output_text");
    assert.equal(part.text, text);
    assert.equal(text.trim().split(" ").length, 30);
  });

  test("a function call round trip: function_call item, then function_call_output on the next turn", async () => {
    const stream = client.responses.stream({
      model: "claude-sonnet-4-6",
      input: "please lookup the answer",
      tools: [lookupTool],
    });
    const argumentDeltas: string[] = [];
    stream.on("response.function_call_arguments.delta", (event) => argumentDeltas.push(event.delta));
    const first = await stream.finalResponse();
    assert.equal(first.status, "completed");
    const call = first.output.find((item) => item.type === "function_call");
    assert.ok(call && call.type === "function_call");
    assert.equal(call.name, "lookup");
    assert.deepEqual(JSON.parse(call.arguments), { query: "query" });
    assert.equal(argumentDeltas.join(""), call.arguments);
    const second = await client.responses.create({
      model: "claude-sonnet-4-6",
      tools: [lookupTool],
      input: [
        { role: "user", content: "please lookup the answer" },
        { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: "function_call_output", call_id: call.call_id, output: "42" },
      ],
    });
    assert.equal(second.status, "completed");
    assert.ok(second.output_text.length > 0);
    assert.equal(
      second.output.some((item) => item.type === "function_call"),
      false,
      "a turn with the tool's output is answered in text",
    );
  });

  test("an answer cut by max_output_tokens is incomplete, with the reason", async () => {
    const response = await client.responses.create({
      model: "claude-haiku-4-5",
      max_output_tokens: 4,
      input: "long sim:tokens=90",
    });
    assert.equal(response.status, "incomplete");
    assert.equal(response.incomplete_details?.reason, "max_output_tokens");
    assert.equal(response.usage?.output_tokens, 4);
  });

  test("the Codex CLI's request (gpt-5.5, developer messages, hosted tools, reasoning) streams to completion", async () => {
    const headers: Record<string, string> = {
      ...codexFixture.headers,
      authorization: `Bearer ${server.key}`,
    };
    delete headers.host;
    delete headers["content-length"];
    const response = await fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers,
      body: JSON.stringify(codexFixture.body),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.ok(
      [...response.headers.keys()].some((name) => name.startsWith("headroom-ratelimit-")),
      "the stream carries the key's rate-limit state",
    );
    assert.ok(response.body);
    const events: StreamEvent[] = [];
    for await (const sse of parseSse(response.body)) {
      const event = JSON.parse(sse.data) as StreamEvent;
      assert.equal(event.type, sse.event, "the SSE event name is the payload's type");
      events.push(event);
    }
    assertWellFormed(events);
    const completed = events[events.length - 1] as OpenAI.Responses.ResponseCompletedEvent;
    assert.equal(completed.type, "response.completed");
    assert.equal(completed.response.model, "gpt-5.5");
    // The developer messages and the tool schemas reached the upstream and were counted.
    const bare = await client.responses.create({ model: "gpt-5.5", input: "say hi" });
    assert.ok((completed.response.usage?.input_tokens ?? 0) > 10 * (bare.usage?.input_tokens ?? Infinity));
    const recorded = await recordedUsage(server, response.headers.get("x-request-id"));
    assert.equal(recorded.model, "gpt-5.5");
    assert.equal(recorded.input_tokens, completed.response.usage?.input_tokens);
    assert.equal(recorded.output_tokens, completed.response.usage?.output_tokens);
  });

  test("bad input is answered in OpenAI's envelope, naming the field", async () => {
    const post = (body: string) =>
      fetch(`${server.url}/v1/responses`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
        body,
      });
    const malformed = await post('{"model": "gpt-5.5", "input": ');
    assert.equal(malformed.status, 400);
    const envelope = (await malformed.json()) as { error: { type: string; message: string } };
    assert.equal(envelope.error.type, "invalid_request_error");
    assert.match(envelope.error.message, /Malformed JSON/);

    await assert.rejects(
      client.responses.create({
        model: "gpt-5.5",
      } as unknown as OpenAI.Responses.ResponseCreateParamsNonStreaming),
      (error: unknown) => error instanceof OpenAI.BadRequestError && /input/.test(error.message),
    );
    await assert.rejects(
      client.responses.create({ model: "gpt-5.5", input: [{ role: "developer", content: "rules only" }] }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === "input",
    );
    await assert.rejects(
      client.responses.create({ model: "no-such-model", input: "x" }),
      (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === "model_not_found",
    );
    await assert.rejects(
      client.responses.create({ model: "gpt-5.5", input: "x", previous_response_id: "resp_123" }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === "previous_response_id",
    );
    const bad = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-hr-wrong", maxRetries: 0 });
    await assert.rejects(
      bad.responses.create({ model: "gpt-5.5", input: "x" }),
      (error: unknown) => error instanceof OpenAI.AuthenticationError && error.code === "invalid_api_key",
    );
  });
});

describe("the Responses API under limits", () => {
  const clock = { now: Date.UTC(2026, 6, 1, 12) };
  let server: TestGateway;

  before(async () => {
    server = await startTestGateway({ clock: () => clock.now, plan: "api-tier-1" });
  });
  after(() => server.stop());

  test("it shares the key's request budget with the other endpoints and answers 429 in OpenAI's envelope", async () => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    const { response } = await openai.responses
      .create({ model: "gpt-5.5", input: "sim:tokens=1" })
      .withResponse();
    assert.equal(response.headers.get("x-ratelimit-limit-requests"), "50");
    assert.equal(response.headers.get("x-ratelimit-remaining-requests"), "49");
    // The other 49 of the minute on the Chat endpoint: one budget per key, whatever the surface.
    for (let i = 1; i < 50; i++) {
      await openai.chat.completions.create({
        model: "claude-sonnet-4-6",
        max_tokens: 5,
        messages: [{ role: "user", content: "sim:tokens=1" }],
      });
    }
    await assert.rejects(
      openai.responses.create({ model: "gpt-5.5", input: "sim:tokens=1" }),
      (error: unknown) =>
        error instanceof OpenAI.RateLimitError &&
        error.code === "rate_limit_exceeded" &&
        /50 requests per minute/.test(error.message),
    );
  });
});

describe("the Responses API in front of an OpenAI-compatible upstream", () => {
  let upstream: FakeUpstream;
  let server: TestGateway;

  before(async () => {
    upstream = await startFakeOpenAI();
    server = await startTestGateway({
      configure(config) {
        serveLlamaFrom(config, upstream.url);
      },
    });
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  test("JSON and stream answers come back as Responses objects with the upstream's usage", async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    const json = await client.responses.create({ model: "llama", instructions: "Be brief.", input: "hi" });
    assert.equal(json.status, "completed");
    assert.ok(json.output_text.length > 0);
    const sent = upstream.requests[upstream.requests.length - 1];
    assert.equal(sent?.path, "/v1/chat/completions");
    const sentBody = sent?.body as { model: string; messages: Array<{ role: string; content: string }> };
    assert.equal(sentBody.model, "meta-llama/Llama-3.3-70B-Instruct");
    assert.deepEqual(sentBody.messages[0], { role: "system", content: "Be brief." });

    const events: StreamEvent[] = [];
    for await (const event of await client.responses.create({ model: "llama", input: "hi", stream: true }))
      events.push(event);
    assertWellFormed(events);
    const text = events
      .filter((event) => event.type === "response.output_text.delta")
      .map((event) => event.delta)
      .join("");
    assert.equal(text, "Hi from vLLM");
    assert.equal(json.output_text, "Hi from vLLM");
    const completed = events[events.length - 1] as OpenAI.Responses.ResponseCompletedEvent;
    assert.equal(completed.response.usage?.output_tokens, 6);
    assert.equal(json.usage?.input_tokens, 20);
    assert.equal(json.usage?.input_tokens_details.cached_tokens, 8);
  });
});

describe("the Responses API in front of an Anthropic upstream", () => {
  let upstream: FakeUpstream;
  let server: TestGateway;
  let client: OpenAI;

  before(async () => {
    upstream = await startFakeAnthropic();
    server = await startTestGateway({
      configure(config) {
        config.upstreams.fake = httpUpstream({ type: "anthropic", url: upstream.url, timeout_ms: 30_000 });
        config.models.push(catalogModel("fake", { upstream: "fake" }));
        config.routes.unshift({ match: "fake-*", model: "fake" });
      },
    });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  test("the request reaches the upstream in the Messages shape, and unknown upstream events are skipped", async () => {
    const events: StreamEvent[] = [];
    const stream = await client.responses.create({
      model: "fake",
      instructions: "Be brief.",
      input: [
        { role: "developer", content: "Answer in English." },
        { role: "user", content: [{ type: "input_text", text: "hi" }] },
      ],
      max_output_tokens: 64,
      stream: true,
    });
    for await (const event of stream) events.push(event);
    assertWellFormed(events);
    const sent = upstream.requests[upstream.requests.length - 1];
    assert.equal(sent?.path, "/v1/messages");
    const body = sent?.body as { system: string; max_tokens: number; messages: unknown[]; stream: boolean };
    assert.equal(body.system, "Be brief.\n\nAnswer in English.");
    assert.equal(body.max_tokens, 64);
    assert.equal(body.stream, true);
    assert.deepEqual(body.messages, [{ role: "user", content: [{ type: "text", text: "hi" }] }]);
    const text = events
      .filter((event) => event.type === "response.output_text.delta")
      .map((event) => event.delta)
      .join("");
    assert.equal(text, "Hello from upstream");
  });

  test("a stream the upstream cuts ends in response.failed, and is recorded as a failure", async () => {
    const response = await fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "fake-cut", input: "hi", stream: true }),
    });
    assert.equal(response.status, 200);
    assert.ok(response.body);
    const events = (await readSse(response)).map((sse) => JSON.parse(sse.data) as StreamEvent);
    const last = events[events.length - 1];
    assert.equal(last?.type, "response.failed");
    assert.ok(last?.type === "response.failed");
    assert.equal(last.response.status, "failed");
    assert.equal(last.response.error?.code, "api_error");
    assert.match(last.response.error?.message ?? "", /^Upstream fake failed/);
    assert.equal(events.filter((event) => event.type === "response.completed").length, 0);
    const recorded = await recordedUsage(server, response.headers.get("x-request-id"));
    assert.equal(recorded.status, 502);
  });
});

describe("the Responses API passed through to an OpenAI server that serves it (responses: true)", () => {
  let upstream: FakeUpstream;
  let server: TestGateway;
  let client: OpenAI;

  before(async () => {
    upstream = await startFakeOpenAI();
    server = await startTestGateway({
      configure(config) {
        config.upstreams.openai = httpUpstream({
          type: "openai",
          url: `${upstream.url}/v1`,
          api_key: "upstream-key",
          timeout_ms: 5000,
          responses: true,
        });
        config.models.push(
          catalogModel("gpt-up", { family: "gpt", upstream: "openai", upstream_model: "gpt-upstream-id" }),
        );
        // The fake server cuts streams for ids ending in -cut.
        config.models.push(
          catalogModel("gpt-cut", { family: "gpt", upstream: "openai", upstream_model: "gpt-upstream-cut" }),
        );
      },
    });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  test("the request goes upstream as the client sent it, unknown fields and all; the answer comes back as the upstream gave it", async () => {
    const { data, response } = await client.responses
      .create({
        model: "gpt-up",
        input: "hi",
        reasoning: { effort: "high" },
        include: ["reasoning.encrypted_content"],
        prompt_cache_key: "thread-7",
        text: { verbosity: "low" },
        store: false,
      })
      .withResponse();
    const sent = upstream.requests[upstream.requests.length - 1];
    assert.equal(sent?.path, "/v1/responses");
    assert.equal(sent?.headers.authorization, "Bearer upstream-key");
    assert.deepEqual(sent?.body, {
      model: "gpt-upstream-id",
      input: "hi",
      reasoning: { effort: "high" },
      include: ["reasoning.encrypted_content"],
      prompt_cache_key: "thread-7",
      text: { verbosity: "low" },
      store: false,
    });
    assert.equal(data.output_text, "Hi there");
    assert.equal((data as unknown as { x_vendor_field: string }).x_vendor_field, "kept");
    const recorded = await recordedUsage(server, response.headers.get("x-request-id"));
    assert.deepEqual(
      [recorded.input_tokens, recorded.cache_read_input_tokens, recorded.output_tokens, recorded.status],
      [20, 10, 7, 200],
      "OpenAI's input includes the cached tokens; the ledger keeps them apart",
    );
  });

  test("previous_response_id reaches an upstream that keeps responses (it is refused only where headroom translates)", async () => {
    const answer = await client.responses.create({
      model: "gpt-up",
      input: "and then?",
      previous_response_id: "resp_up",
    });
    assert.equal(answer.status, "completed");
    const sent = upstream.requests[upstream.requests.length - 1]?.body as { previous_response_id?: string };
    assert.equal(sent.previous_response_id, "resp_up");
  });

  test("a stream's events arrive byte for byte, unknown ones included, and its usage is recorded", async () => {
    const response = await fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-up", input: "hi", stream: true }),
    });
    assert.equal(response.status, 200);
    assert.ok(response.body);
    const received = await readSse(response);
    const expected = FAKE_RESPONSE_EVENTS("gpt-upstream-id");
    assert.deepEqual(
      received.map((sse) => [sse.event, sse.data]),
      expected.map((event) => [event.type, JSON.stringify(event)]),
    );
    const recorded = await recordedUsage(server, response.headers.get("x-request-id"));
    assert.deepEqual([recorded.input_tokens, recorded.output_tokens, recorded.streamed], [20, 7, true]);
  });

  test("a stream the upstream cuts ends with response.failed and is charged what it produced", async () => {
    const response = await fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-cut", input: "hi", stream: true }),
    });
    assert.ok(response.body);
    const received = (await readSse(response)).map((sse) => JSON.parse(sse.data) as StreamEvent);
    const last = received[received.length - 1];
    assert.equal(last?.type, "response.failed");
    assert.equal(received.filter((event) => event.type === "response.completed").length, 0);
    const recorded = await recordedUsage(server, response.headers.get("x-request-id"));
    assert.equal(recorded.status, 502);
    assert.ok(recorded.output_tokens >= 1, "the delta that arrived is charged");
  });
});
