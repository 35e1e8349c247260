import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { loadFleetCapacity } from "../../src/capacity/fleet-capacity.ts";
import { loadConfig } from "../../src/config/load.ts";
import { countRequestTokens, countTextTokens } from "../../src/protocol/tokens/count.ts";
import { SimulatedUpstream } from "../../src/upstreams/simulated.ts";
import { generatePieces, seededRandom, WORDS } from "../../src/upstreams/simulated-text.ts";
import {
  postMessages,
  startTestGateway,
  streamThenDisconnect,
  type TestGateway,
} from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

/** Virtual time: sleeping advances the clock at once, and every sleep is noted. */
function virtualPacer() {
  let now = 0;
  const slept: number[] = [];
  const pacer = {
    now: () => now,
    sleep: async (ms: number) => {
      slept.push(ms);
      now += ms;
    },
  };
  return { pacer, slept };
}

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

describe("the simulated pool's pace, on a virtual clock", () => {
  test("decodes no faster than the model's rate: 40 tokens at 200 tokens/s take 200 ms after the first", async () => {
    // Virtual time: sleeping advances the clock at once, so the reply's pace is exact and no
    // assertion depends on how fast this machine is.
    const { pacer, slept } = virtualPacer();
    const config = loadConfig({ env: {} });
    const sonnet = config.models.find((model) => model.id === "claude-sonnet-4-6");
    assert.ok(sonnet?.simulation, "the default catalog simulates Sonnet");
    const entry = { ...sonnet, simulation: { ...sonnet.simulation, decode_tokens_per_s: 200, ttft_ms: 20 } };
    const upstream = new SimulatedUpstream(
      "sim",
      { type: "simulated", slots: 1, queue: 0, queue_timeout_ms: 1 },
      undefined,
      pacer,
    );
    const body = {
      model: entry.id,
      max_tokens: 10_000,
      messages: [{ role: "user" as const, content: "sim:tokens=40" }],
    };
    const reply = await upstream.createMessage({
      body,
      model: { requested: entry.id, entry, upstream: "sim", upstreamModel: entry.id },
      inputTokens: 0,
      headers: {},
      signal: new AbortController().signal,
    });
    assert.equal(reply.kind, "events");
    let firstDeltaAt: number | undefined;
    let text = "";
    for await (const event of reply.kind === "events" ? reply.events : []) {
      if (event.event !== "content_block_delta") continue;
      firstDeltaAt ??= pacer.now();
      text += (JSON.parse(event.data) as { delta: { text?: string } }).delta.text ?? "";
    }
    assert.equal(countTextTokens(text), 40);
    // Time to first token: the fixed part, then the prompt's prefill at the model's rate.
    const prefillMs = (1000 * countRequestTokens(body)) / entry.simulation.prefill_tokens_per_s;
    assert.ok(prefillMs > 0);
    assert.equal(slept[0], 20 + prefillMs, "time to first token first");
    const decoding = pacer.now() - (firstDeltaAt ?? 0);
    // The first token is due at once, the 40th at 39 / 200 s; an upstream that ignored the rate
    // would take no virtual time at all.
    assert.ok(decoding >= 195 && decoding <= 200, `decoding took ${decoding} virtual ms`);
  });
});

describe("the default start's pool follows the embedded fleet", () => {
  test("no config file: the pool's size, decode speed, prompt rate and first token come from the fleet", async () => {
    const config = loadConfig({ env: {} });
    assert.ok(config.capacity, "the embedded fleet is configured");
    assert.match(config.capacity.fleet, /colossus-fleet\.yaml$/);
    const fleet = loadFleetCapacity(config.capacity.fleet);
    const share = config.capacity.share;
    // Before and after the deal: the pool grows with the fleet (more than twice: a 230,000-GPU deal).
    const before = Date.parse("2026-04-27T00:00:00Z");
    const after = Date.parse("2026-06-15T00:00:00Z");
    assert.ok(fleet.streamsAt(after, share) > 2 * fleet.streamsAt(before, share));
    const { pacer, slept } = virtualPacer();
    const upstream = new SimulatedUpstream(
      "simulated",
      { type: "simulated", slots: 1, queue: 0, queue_timeout_ms: 1 },
      {
        streamsAt: (at) => fleet.streamsAt(at, share),
        streamRateAt: (at, family) => fleet.streamRateAt(at, family),
        prefillRateAt: (at, family) => fleet.prefillRateAt(at, family),
        clock: () => after,
      },
      pacer,
    );
    assert.equal(upstream.pool.slots, fleet.streamsAt(after, share));
    const opus = config.models.find((model) => model.id === "claude-opus-4-6");
    assert.ok(opus?.simulation);
    const rate = fleet.streamRateAt(after, "opus");
    const prefill = fleet.prefillRateAt(after, "opus");
    // The fleet's speeds, not the catalog's typical figures.
    assert.ok(
      rate > 0 && Math.abs(rate - opus.simulation.decode_tokens_per_s) > 1,
      `opus at ${rate} tokens/s`,
    );
    assert.ok(prefill > 0);
    const body = {
      model: opus.id,
      max_tokens: 10_000,
      messages: [{ role: "user" as const, content: `sim:tokens=40 ${"word ".repeat(2_000)}` }],
    };
    const reply = await upstream.createMessage({
      body,
      model: { requested: opus.id, entry: opus, upstream: "simulated", upstreamModel: opus.id },
      inputTokens: 0,
      headers: {},
      signal: new AbortController().signal,
    });
    let firstDeltaAt: number | undefined;
    for await (const event of reply.kind === "events" ? reply.events : [])
      if (event.event === "content_block_delta") firstDeltaAt ??= pacer.now();
    // First token: one decode step, then the prompt at one replica's prefill rate.
    const expected = 1000 / rate + (1000 * countRequestTokens(body)) / prefill;
    assert.ok(Math.abs((slept[0] as number) - expected) < 1e-6, `${slept[0]} against ${expected}`);
    // 40 tokens at the fleet's per-stream speed: the 40th is due 39 steps after the first.
    const decoding = pacer.now() - (firstDeltaAt ?? 0);
    const steps = (39 * 1000) / rate;
    assert.ok(decoding >= steps * 0.97 && decoding <= steps * 1.01, `${decoding} ms against ${steps}`);
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

  test("answers with the tokens asked for", async () => {
    const message = await ask(40);
    assert.equal(message.usage.output_tokens, 40);
  });

  /** A streamed reply long enough (50 s at 200 tokens/s) to hold its slot until the test lets go. */
  function holdSlot() {
    const controller = new AbortController();
    const done = postMessages(
      server,
      {
        model: "claude-sonnet-4-6",
        max_tokens: 20_000,
        stream: true,
        messages: [{ role: "user", content: "sim:tokens=10000" }],
      },
      { signal: controller.signal },
    )
      .then((response) => response.arrayBuffer())
      .catch((error: Error) => {
        if (error.name !== "AbortError") throw error;
      });
    return { release: () => controller.abort(), done };
  }

  test("with every slot busy and the queue full, the next request gets 529 overloaded_error, and the pool recovers", async () => {
    const pool = (server.gateway.upstreams.get("simulated") as SimulatedUpstream).pool;
    const held = [holdSlot(), holdSlot(), holdSlot()]; // two slots and one queued
    await waitFor(() => pool.inFlight === 2 && pool.queued === 1, "two slots busy and one request queued");
    const response = await postMessages(server, {
      model: "claude-sonnet-4-6",
      max_tokens: 5,
      messages: [{ role: "user", content: "x" }],
    });
    assert.equal(response.status, 529);
    assert.equal(response.headers.get("retry-after"), "1");
    const body = await response.json();
    assert.equal(body.error.type, "overloaded_error");
    // The queued request takes the first slot let go.
    held[0]?.release();
    await waitFor(() => pool.inFlight === 2 && pool.queued === 0, "the queued request to get a slot");
    for (const request of held) request.release();
    await Promise.all(held.map((request) => request.done));
    await waitFor(() => pool.inFlight === 0 && server.gateway.inFlight.size === 0, "the pool to drain");
    assert.equal((await ask(3)).usage.output_tokens, 3);
  });

  test("a client that gives up on a JSON reply while the pool decodes it is recorded as 499, its slot freed", async () => {
    const pool = (server.gateway.upstreams.get("simulated") as SimulatedUpstream).pool;
    const leaving = new AbortController();
    // 2,000 tokens take 10 s at 200 tokens/s: the client leaves long before the reply is whole.
    const request = postMessages(
      server,
      {
        model: "claude-sonnet-4-6",
        max_tokens: 2_000,
        messages: [{ role: "user", content: "sim:tokens=2000" }],
      },
      { signal: leaving.signal },
    ).catch(() => undefined);
    await waitFor(() => pool.inFlight === 1, "the request to be decoding");
    leaving.abort();
    await request;
    await waitFor(() => pool.inFlight === 0 && server.gateway.inFlight.size === 0, "the slot to be let go");
    await server.gateway.ledger.flush();
    const rows = await server.gateway.ledger.events({ account: "test", limit: 1000 });
    // The newest row is this request's (the ledger lists oldest first).
    const row = [...rows].sort((a, b) => a.at_ms - b.at_ms).at(-1);
    assert.equal(row?.status, 499);
    assert.equal(row?.error_type, "client_closed");
  });

  test("a client that disconnects mid-stream is charged only for what was produced", async () => {
    // 2,000 tokens take 10 s at 200 tokens/s: the client leaves long before the end.
    const { received, recorded } = await streamThenDisconnect(server, 2_000, 20);
    assert.equal(recorded.status, 499);
    assert.equal(recorded.error_type, "client_closed");
    assert.ok(
      recorded.output_tokens >= received,
      `charged ${recorded.output_tokens} >= received ${received}`,
    );
    assert.ok(recorded.output_tokens < 2_000, `charged ${recorded.output_tokens} of the 2000 asked for`);
  });
});
