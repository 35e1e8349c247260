import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import OpenAI from "openai";
import { recordedUsage, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

describe("OpenTelemetry: a span per request with the GenAI conventions", () => {
  const exporter = new InMemorySpanExporter();
  const clock = { now: Date.UTC(2026, 6, 1, 12) };
  let server: TestGateway;

  before(async () => {
    server = await startTestGateway({
      spanExporter: exporter,
      clock: () => clock.now,
      configure(config) {
        const sonnet = config.models.find((model) => model.id === "claude-sonnet-4-6");
        assert.ok(sonnet);
        config.models.push({
          ...sonnet,
          id: "placed",
          display_name: "Placed",
          upstream: "deployments:placed",
          deployments: [{ upstream: "simulated", weight: 1 }],
        });
      },
    });
  });
  after(() => server.stop());

  /** The span of one request, found by its request id. */
  const spanOf = (requestId: string | null): Promise<ReadableSpan> =>
    waitFor(
      () => exporter.getFinishedSpans().find((span) => span.attributes["headroom.request_id"] === requestId),
      `the span of ${requestId}`,
    );

  test("an admitted request's span carries the model, the usage the ledger recorded, the plan and the decision", async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    const { data: message, response } = await client.messages
      .create({
        model: "claude-sonnet-4-6",
        max_tokens: 50,
        messages: [{ role: "user", content: "hi sim:tokens=9" }],
      })
      .withResponse();
    const requestId = response.headers.get("request-id");
    const span = await spanOf(requestId);
    const recorded = await recordedUsage(server, requestId);
    assert.equal(span.name, "chat claude-sonnet-4-6");
    const attributes = span.attributes;
    assert.equal(attributes["gen_ai.operation.name"], "chat");
    assert.equal(attributes["gen_ai.request.model"], "claude-sonnet-4-6");
    assert.equal(attributes["gen_ai.request.max_tokens"], 50);
    assert.equal(attributes["gen_ai.usage.input_tokens"], recorded.input_tokens);
    assert.equal(attributes["gen_ai.usage.output_tokens"], message.usage.output_tokens);
    assert.deepEqual(attributes["gen_ai.response.finish_reasons"], ["end_turn"]);
    assert.equal(attributes["headroom.plan"], "pro");
    assert.equal(attributes["headroom.limiter.decision"], "admitted");
    assert.equal(attributes["headroom.upstream"], "simulated");
    assert.equal(attributes["http.response.status_code"], 200);
    assert.equal(span.status.code, 0, "unset: not an error");
  });

  test("a model with deployments names the deployment that answered", async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    const { response } = await client.responses.create({ model: "placed", input: "hi" }).withResponse();
    const span = await spanOf(response.headers.get("x-request-id"));
    assert.equal(span.attributes["headroom.upstream"], "deployments:placed");
    assert.equal(span.attributes["headroom.deployment"], "simulated");
    assert.equal(span.attributes["headroom.endpoint"], "openai");
  });

  test("a refused request's span says which limit refused it", async () => {
    const { key } = await server.gateway.accounts.createKey("limited", "api-tier-1");
    const client = new Anthropic({ baseURL: server.url, apiKey: key, maxRetries: 0 });
    const ask = () =>
      client.messages.create({
        model: "claude-haiku-4-5",
        max_tokens: 5,
        messages: [{ role: "user", content: "x" }],
      });
    for (let i = 0; i < 50; i++) await ask();
    const error = await ask().then(
      () => assert.fail("the 51st request in the minute was admitted"),
      (caught: unknown) => caught as InstanceType<typeof Anthropic.RateLimitError>,
    );
    assert.ok(error instanceof Anthropic.RateLimitError);
    const span = await spanOf(error.headers?.get("request-id") ?? null);
    assert.equal(span.attributes["headroom.limiter.decision"], "refused");
    assert.equal(span.attributes["http.response.status_code"], 429);
    assert.equal(span.attributes["error.type"], "rate_limit_error");
    assert.match(String(span.attributes["headroom.refusal"]), /50 requests per minute/);
  });
});

describe("OpenTelemetry export over OTLP", () => {
  test("off without OTEL_EXPORTER_OTLP_ENDPOINT; with it, spans reach the collector by the time the gateway has stopped", async () => {
    const quiet = await startTestGateway();
    assert.equal(quiet.gateway.tracer, undefined, "no tracer, so no span work on the request path");
    await quiet.stop();

    const received: string[] = [];
    const collector = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on("end", () => {
        received.push(`${request.url} ${body}`);
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const { port } = collector.address() as AddressInfo;
    try {
      const server = await startTestGateway({
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/` },
      });
      const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
      await client.messages.create({
        model: "claude-opus-4-8",
        max_tokens: 5,
        messages: [{ role: "user", content: "x" }],
      });
      await server.stop();
      const traces = received.filter((entry) => entry.startsWith("/v1/traces "));
      assert.equal(traces.length, 1, received.join("\n"));
      assert.match(traces[0] ?? "", /gen_ai\.request\.model/);
      assert.match(traces[0] ?? "", /claude-opus-4-8/);
    } finally {
      collector.close();
    }
  });
});
