import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { scrapeMetrics, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

/** The value of one sample line, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`^${escaped} (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : undefined;
}

describe("/metrics covers traffic, latency, the limiter and capacity", () => {
  const clock = { now: Date.UTC(2026, 6, 1, 12) };
  let server: TestGateway;

  before(async () => {
    server = await startTestGateway({
      clock: () => clock.now,
      plan: "api-tier-1",
      configure(config) {
        const sonnet = config.models.find((model) => model.id === "claude-sonnet-4-6");
        assert.ok(sonnet?.simulation);
        // A Sonnet that decodes one token a second, so a stream stays in flight while we look.
        config.models.push({
          ...sonnet,
          id: "sonnet-slow",
          aliases: [],
          simulation: { ...sonnet.simulation, decode_tokens_per_s: 1, ttft_ms: 0 },
        });
      },
    });
  });
  after(() => server.stop());

  test("requests by plan and status, histograms, decisions and the refusing dimension", async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    const ask = () =>
      client.messages.create({
        model: "claude-sonnet-4-6",
        max_tokens: 5,
        messages: [{ role: "user", content: "sim:tokens=3" }],
      });
    for (let i = 0; i < 50; i++) await ask();
    await assert.rejects(ask(), Anthropic.RateLimitError);
    const text = await scrapeMetrics(server);
    const labels = 'endpoint="anthropic",model="claude-sonnet-4-6"';
    assert.equal(sample(text, `headroom_requests_total{${labels},plan="api-tier-1",status="200"}`), 50);
    assert.equal(sample(text, `headroom_requests_total{${labels},plan="api-tier-1",status="429"}`), 1);
    assert.equal(sample(text, `headroom_request_duration_seconds_count{${labels}}`), 51);
    assert.equal(sample(text, `headroom_time_to_first_token_seconds_count{model="claude-sonnet-4-6"}`), 50);
    assert.equal(sample(text, 'headroom_limiter_decisions_total{decision="admitted",plan="api-tier-1"}'), 50);
    assert.equal(sample(text, 'headroom_limiter_decisions_total{decision="refused",plan="api-tier-1"}'), 1);
    assert.equal(sample(text, 'headroom_rate_limited_total{plan="api-tier-1",dimension="rpm"}'), 1);
    assert.equal(
      sample(text, 'headroom_tokens_total{kind="output",model="claude-sonnet-4-6",plan="api-tier-1"}'),
      150,
    );
    assert.equal(sample(text, "headroom_limiter_store_errors_total"), 0);
  });

  test("demand against capacity per model family: capacity from the simulated pool, demand from what is in flight", async () => {
    const text = await scrapeMetrics(server);
    // The default pool: 256 slots; Sonnet decodes at the test's 20,000 tokens/s per stream.
    assert.equal(sample(text, 'headroom_family_capacity_tokens_per_second{family="sonnet"}'), 256 * 20_000);
    assert.equal(
      sample(text, 'headroom_family_demand_tokens_per_second{family="sonnet"}'),
      0,
      "nothing in flight",
    );
    clock.now += 60_000; // a fresh minute for the api-tier-1 key
    const leaving = new AbortController();
    await fetch(`${server.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": server.key, "content-type": "application/json" },
      body: JSON.stringify({
        model: "sonnet-slow",
        max_tokens: 1000,
        stream: true,
        messages: [{ role: "user", content: "sim:tokens=900" }],
      }),
      signal: leaving.signal,
    });
    const during = await waitFor(async () => {
      const scrape = await scrapeMetrics(server);
      return sample(scrape, 'headroom_family_demand_tokens_per_second{family="sonnet"}') === 1 && scrape;
    }, "the slow stream's demand to show");
    assert.equal(sample(during, 'headroom_family_demand_tokens_per_second{family="haiku"}'), 0);
    leaving.abort();
  });
});
