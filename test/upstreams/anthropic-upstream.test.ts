import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { estimateTextTokens } from "../../src/protocol/tokens/estimate.ts";
import { type FakeUpstream, startFakeAnthropic } from "../helpers/fake-upstreams.ts";
import {
  catalogModel,
  httpUpstream,
  postMessages,
  readSse,
  recordedUsage,
  startTestGateway,
  type TestGateway,
} from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

describe("the Anthropic upstream adapter against a server speaking the Anthropic wire format", () => {
  let upstream: FakeUpstream;
  let server: TestGateway;
  let client: Anthropic;

  before(async () => {
    upstream = await startFakeAnthropic();
    server = await startTestGateway({
      env: { FAKE_KEY: "upstream-secret" },
      configure(config) {
        config.upstreams.fake = httpUpstream({
          type: "anthropic",
          url: upstream.url,
          api_key_env: "FAKE_KEY",
          timeout_ms: 30_000,
        });
        // The same server behind a short timeout, for the model that never answers.
        config.upstreams.hung = httpUpstream({ type: "anthropic", url: upstream.url, timeout_ms: 300 });
        // Streams held to short first-event and idle timeouts; whole replies to a long one.
        config.upstreams.strict = httpUpstream({
          type: "anthropic",
          url: upstream.url,
          timeout_ms: 30_000,
          first_byte_timeout_ms: 300,
          idle_timeout_ms: 300,
        });
        config.upstreams.patient = httpUpstream({
          type: "anthropic",
          url: upstream.url,
          timeout_ms: 600_000,
        });
        config.upstreams.down = httpUpstream({
          type: "anthropic",
          url: "http://127.0.0.1:1",
          timeout_ms: 1000,
        });
        config.models.push(
          catalogModel("fake", { upstream: "fake" }),
          catalogModel("fake-renamed", { upstream: "fake", upstream_model: "fake-json" }),
          catalogModel("fake-hang-slow", { upstream: "patient" }),
          catalogModel("fake-slow", { upstream: "hung" }),
          catalogModel("down", { upstream: "down" }),
          catalogModel("strict-stall", { upstream: "strict", upstream_model: "fake-stall" }),
          catalogModel("strict-trickle", { upstream: "strict", upstream_model: "fake-trickle" }),
          catalogModel("strict-slow", { upstream: "strict", upstream_model: "fake-slow" }),
          catalogModel("strict-json-slow", { upstream: "strict", upstream_model: "fake-json-slow" }),
        );
        config.routes.unshift({ match: "fake-*", model: "fake" });
      },
    });
    client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  const lastRequest = () => upstream.requests[upstream.requests.length - 1];

  test("a JSON request passes through with unknown fields, beta headers and the upstream key", async () => {
    const { data: message, response } = await client.beta.messages
      .create({
        model: "fake-json",
        max_tokens: 10,
        messages: [{ role: "user", content: "hi" }],
        betas: ["context-management-2025-06-27"],
        // @ts-expect-error: a field no SDK knows yet must still reach the upstream
        brand_new_option: { depth: 3 },
      })
      .withResponse();
    const seen = lastRequest();
    assert.equal(seen?.path, "/v1/messages");
    assert.equal(seen?.headers["x-api-key"], "upstream-secret");
    assert.equal(seen?.headers["anthropic-beta"], "context-management-2025-06-27");
    assert.match(
      String(seen?.headers["anthropic-version"]),
      /^\d{4}-\d{2}-\d{2}$/,
      "the SDK's own version is forwarded",
    );
    assert.deepEqual(seen?.body.brand_new_option, { depth: 3 });
    assert.equal((message as unknown as { future_field: string }).future_field, "kept");
    const event = await recordedUsage(server, response.headers.get("request-id"));
    assert.equal(event.input_tokens, 11);
    assert.equal(event.cache_creation_input_tokens, 5);
    assert.equal(event.cache_read_input_tokens, 100);
    assert.equal(event.output_tokens, 4);
  });

  test("the client's JSON text reaches the upstream byte for byte; a renamed model is re-serialized", async () => {
    // 1.0 and the spacing would not survive a parse and re-serialization.
    const text = `{"model": "fake-json", "max_tokens": 10, "temperature": 1.0,
      "messages": [{"role": "user", "content": "hi"}], "x_future": [1.50, true]}`;
    const response = await fetch(`${server.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": server.key },
      body: text,
    });
    assert.equal(response.status, 200);
    await response.text();
    assert.equal(lastRequest()?.text, text);

    await (
      await postMessages(server, {
        model: "fake-renamed",
        max_tokens: 10,
        messages: [{ role: "user", content: "hi" }],
      })
    ).text();
    assert.equal(lastRequest()?.body.model, "fake-json", "the upstream's model id replaced the client's");
  });

  test("anthropic-version is forwarded as the client sent it, or defaulted when absent", async () => {
    const post = (headers: Record<string, string>) =>
      postMessages(
        server,
        { model: "fake-json", max_tokens: 10, messages: [{ role: "user", content: "hi" }] },
        { headers },
      );
    await (await post({ "anthropic-version": "2099-01-01" })).json();
    assert.equal(lastRequest()?.headers["anthropic-version"], "2099-01-01");
    await (await post({})).json();
    assert.equal(lastRequest()?.headers["anthropic-version"], "2023-06-01");
  });

  test("a stream is relayed event by event, unknown event types included", async () => {
    const response = await postMessages(server, {
      model: "fake-stream",
      max_tokens: 10,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    const events = (await readSse(response)).map(({ event }) => event);
    assert.ok(events.includes("future_event"));
    assert.equal(events.at(-1), "message_stop");
    const event = await recordedUsage(server, response.headers.get("request-id"));
    assert.equal(event.output_tokens, 4);
    assert.equal(event.cache_read_input_tokens, 100);
  });

  test("a stream the upstream cuts mid-way ends with an SSE error event, and the usage so far is recorded", async () => {
    const response = await postMessages(server, {
      model: "fake-cut",
      max_tokens: 10,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(response.status, 200);
    const events = await readSse(response);
    const last = events.at(-1);
    assert.equal(last?.event, "error");
    const payload = JSON.parse(last?.data ?? "{}");
    assert.equal(payload.type, "error");
    assert.equal(payload.error.type, "api_error");
    const event = await recordedUsage(server, response.headers.get("request-id"));
    assert.equal(event.status, 502);
    assert.equal(event.input_tokens, 11);
    // Estimated from the two deltas' length (no tokenizer on the stream path): 10 characters.
    assert.equal(
      event.output_tokens,
      estimateTextTokens("Hello from".length),
      "what was streamed of 'Hello from'",
    );
  });

  test("an event that is not JSON ends the stream with a clear error, for streams and for JSON replies", async () => {
    const stream = await postMessages(server, {
      model: "fake-malformed",
      max_tokens: 10,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(stream.status, 200);
    const events = await readSse(stream);
    const payload = JSON.parse(events.at(-1)?.data ?? "{}");
    assert.equal(payload.error.type, "api_error");
    assert.match(payload.error.message, /malformed event/);
    assert.equal((await recordedUsage(server, stream.headers.get("request-id"))).status, 502);
    // A client that did not ask for a stream gets a 502 that says the upstream failed, no stack.
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    await assert.rejects(
      openai.chat.completions.create({
        model: "fake-malformed",
        messages: [{ role: "user", content: "hi" }],
      }),
      (error: unknown) =>
        error instanceof OpenAI.APIError &&
        error.status === 502 &&
        /^502 Upstream fake failed/.test(error.message),
    );
  });

  test("the SDK sees a cut stream as an error", async () => {
    const stream = client.messages.stream({
      model: "fake-cut",
      max_tokens: 10,
      messages: [{ role: "user", content: "x" }],
    });
    await assert.rejects(stream.finalMessage(), (error: Error) => /upstream/i.test(error.message));
  });

  test("an upstream 429 keeps its status, type and retry-after", async () => {
    const response = await postMessages(server, {
      model: "fake-429",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(response.status, 429);
    assert.equal(response.headers.get("retry-after"), "7");
    const body = await response.json();
    assert.equal(body.error.type, "rate_limit_error");
    assert.equal(body.error.message, "upstream says slow down");
  });

  test("an upstream 500 with an HTML body becomes 502 api_error", async () => {
    await assert.rejects(
      client.messages.create({
        model: "fake-500",
        max_tokens: 10,
        messages: [{ role: "user", content: "x" }],
      }),
      (error: unknown) =>
        error instanceof Anthropic.APIError &&
        error.status === 502 &&
        (error.error as { error: { type: string } }).error.type === "api_error",
    );
  });

  test("an upstream that does not answer in time is 504 timeout_error", async () => {
    const response = await postMessages(server, {
      model: "fake-slow",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(response.status, 504);
    assert.equal((await response.json()).error.type, "timeout_error");
  });

  test("a stream whose upstream sends no headers within first_byte_timeout_ms is 504 timeout_error", async () => {
    const response = await postMessages(server, {
      model: "strict-slow",
      max_tokens: 10,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(response.status, 504);
    const body = (await response.json()) as { error: { type: string; message: string } };
    assert.equal(body.error.type, "timeout_error");
    // A whole (non-streaming) reply from the same upstream is allowed timeout_ms (30 s), not 0.3 s:
    // it is still waiting after a stream started later has been refused.
    const controller = new AbortController();
    const json = postMessages(
      server,
      { model: "strict-json-slow", max_tokens: 10, messages: [{ role: "user", content: "hi" }] },
      { signal: controller.signal },
    ).catch(() => "aborted");
    await waitFor(
      () => upstream.requests.some((request) => request.body.model === "fake-json-slow"),
      "the whole reply's call to reach the upstream",
    );
    const streamed = await postMessages(server, {
      model: "strict-slow",
      max_tokens: 10,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(streamed.status, 504);
    assert.ok(!upstream.abandoned?.includes("fake-json-slow"), "the whole reply still waits");
    controller.abort();
    assert.equal(await json, "aborted");
    await waitFor(() => upstream.abandoned?.includes("fake-json-slow"), "the gateway to let go of it");
  });

  test("a stream that stops mid-way is cut after idle_timeout_ms with an SSE timeout_error, and the upstream let go", async () => {
    const response = await postMessages(server, {
      model: "strict-stall",
      max_tokens: 10,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(response.status, 200);
    const events = await readSse(response);
    assert.equal(events[0]?.event, "message_start");
    const last = events.at(-1);
    assert.equal(last?.event, "error");
    assert.deepEqual(JSON.parse(last?.data ?? "{}").error, {
      type: "timeout_error",
      message: "Upstream strict sent no event for 0.3 s mid-stream.",
    });
    await waitFor(() => upstream.abandoned?.includes("fake-stall"), "the gateway to close the upstream call");
    const row = await recordedUsage(server, response.headers.get("request-id"));
    assert.equal(row.status, 504);
    assert.equal(row.error_type, "timeout_error");
  });

  test("an upstream trickling bytes that never make an event is cut: only whole events count", async () => {
    const response = await postMessages(server, {
      model: "strict-trickle",
      max_tokens: 10,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    // The upstream's 200 came at once, so the client's stream has begun; it ends in an error event.
    assert.equal(response.status, 200);
    const events = await readSse(response);
    assert.deepEqual(
      events.map(({ event, data }) => ({ event, error: JSON.parse(data).error })),
      [
        {
          event: "error",
          error: { type: "timeout_error", message: "Upstream strict sent no event within 0.3 s." },
        },
      ],
    );
    const closed = await waitFor(
      () => upstream.abandoned?.find((entry) => entry.startsWith("fake-trickle@")),
      "the gateway to close the trickling call",
    );
    // Bytes were arriving (more than one), yet no event was complete.
    assert.ok(Number(closed.split("@")[1]) > 1, closed);
  });

  test("a client that leaves before the upstream answers cuts the upstream call and is recorded as 499", async () => {
    const controller = new AbortController();
    const asked = upstream.requests.length;
    const pending = postMessages(
      server,
      { model: "fake-hang-slow", max_tokens: 10, messages: [{ role: "user", content: "hi" }] },
      { signal: controller.signal },
    ).catch(() => undefined);
    await waitFor(() => upstream.requests.length > asked, "the upstream to receive the call");
    controller.abort();
    await pending;
    // Within the ten minutes the upstream would be waited for, the gateway lets go of it.
    await waitFor(
      () => upstream.abandoned?.includes("fake-hang-slow"),
      "the gateway to close the upstream call",
    );
    await waitFor(() => server.gateway.inFlight.size === 0, "the exchange to end");
    const [row] = await server.gateway.ledger.events({ account: "test", limit: 1 });
    assert.equal(row?.model, "fake-hang-slow");
    assert.equal(row?.status, 499);
    assert.equal(row?.error_type, "client_closed");
  });

  test("an unreachable upstream is 502 api_error in both envelopes", async () => {
    const response = await postMessages(server, {
      model: "down",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(response.status, 502);
    assert.equal((await response.json()).error.type, "api_error");
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    await assert.rejects(
      openai.chat.completions.create({ model: "down", messages: [{ role: "user", content: "x" }] }),
      (error: unknown) => error instanceof OpenAI.APIError && error.status === 502,
    );
  });

  test("count_tokens is answered by the upstream", async () => {
    const counted = await client.messages.countTokens({
      model: "fake-count",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(counted.input_tokens, 77);
    assert.equal(lastRequest()?.path, "/v1/messages/count_tokens");
    assert.equal(lastRequest()?.body.max_tokens, undefined);
  });

  test("the OpenAI endpoint reaches the Anthropic upstream through translation", async () => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    const completion = await openai.chat.completions.create({
      model: "fake-json",
      messages: [
        { role: "system", content: "sys" },
        { role: "user", content: "hi" },
      ],
    });
    assert.equal(completion.choices[0]?.message.content, "Hello from upstream");
    assert.equal(completion.usage?.prompt_tokens, 116);
    assert.equal(completion.usage?.prompt_tokens_details?.cached_tokens, 100);
    assert.equal(lastRequest()?.body.system, "sys");
    assert.equal(lastRequest()?.body.max_tokens, 4096);
  });
});
