import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { countTextTokens } from "../../src/tokens/count.ts";
import { generatePieces, seededRandom, WORDS } from "../../src/upstreams/simulated-text.ts";
import { startTestGateway, streamThenDisconnect, type TestGateway } from "../helpers/gateway.ts";

describe("simulated text", () => {
  test("every vocabulary word is exactly one token, with and without a leading space", () => {
    for (const word of WORDS) {
      assert.equal(countTextTokens(word), 1, word);
      assert.equal(countTextTokens(` ${word}`), 1, ` ${word}`);
    }
  });

  test("N generated pieces are N tokens, whatever the seed", () => {
    for (let seed = 0; seed < 200; seed++) {
      const count = 1 + (seed % 97);
      assert.equal(countTextTokens(generatePieces(seededRandom(seed), count).join("")), count);
    }
  });
});

describe("the simulated GPU pool", () => {
  let server: TestGateway;
  let client: Anthropic;

  before(async () => {
    // The highest priority may use the whole pool and queue, so these tests see the pool's own
    // limits rather than priority shedding (tested in test/admission).
    server = await startTestGateway({
      plan: "priority",
      configure(config) {
        config.upstreams.simulated = { type: "simulated", slots: 2, queue: 1, queue_timeout_ms: 5_000 };
        const sonnet = config.models.find((model) => model.id === "claude-sonnet-4-6");
        if (sonnet?.simulation)
          sonnet.simulation = { ...sonnet.simulation, decode_tokens_per_s: 200, ttft_ms: 20 };
      },
    });
    client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
  });
  after(() => server.stop());

  const ask = (tokens: number) =>
    client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 10_000,
      messages: [{ role: "user", content: `sim:tokens=${tokens}` }],
    });

  test("decodes no faster than the model's rate", async () => {
    const started = performance.now();
    const message = await ask(40);
    const elapsed = performance.now() - started;
    assert.equal(message.usage.output_tokens, 40);
    // 40 tokens at 200 tokens/s take at least ~195 ms after the first token.
    assert.ok(elapsed >= 190, `took ${elapsed} ms`);
  });

  test("with every slot busy and the queue full, the next request gets 529 overloaded_error, and the pool recovers", async () => {
    const running = [ask(40), ask(40), ask(40)]; // two slots and one queued
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(server.gateway.inFlight.size, 3);
    const response = await fetch(`${server.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": server.key, "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude-sonnet-4-6",
        max_tokens: 5,
        messages: [{ role: "user", content: "x" }],
      }),
    });
    assert.equal(response.status, 529);
    assert.equal(response.headers.get("retry-after"), "1");
    const body = await response.json();
    assert.equal(body.error.type, "overloaded_error");
    const finished = await Promise.all(running);
    assert.deepEqual(
      finished.map((message) => message.usage.output_tokens),
      [40, 40, 40],
    );
    assert.equal((await ask(3)).usage.output_tokens, 3);
  });

  test("a client that disconnects mid-stream is charged only for what was produced", async () => {
    const { requestId, received } = await streamThenDisconnect(server, 2_000, 20);
    await server.gateway.ledger.flush();
    const events = await server.gateway.ledger.events({ account: "test", limit: 100 });
    const event = events.find((candidate) => candidate.request_id === requestId);
    assert.ok(event);
    assert.equal(event.status, 499);
    assert.equal(event.error_type, "client_closed");
    assert.ok(event.output_tokens >= received, `charged ${event.output_tokens} >= received ${received}`);
    assert.ok(event.output_tokens < 100, `charged ${event.output_tokens} of the 2000 asked for`);
    assert.equal(server.gateway.inFlight.size, 0);
  });
});
