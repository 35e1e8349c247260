import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { AdmissionController } from "../../src/admission/admission-controller.ts";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";

describe("admission controller", () => {
  test("lower priorities reach their ceiling first; the highest may use the queue", () => {
    const controller = new AdmissionController({ capacity: 4, ceiling: 4 });
    const lows: Array<() => void> = [];
    for (;;) {
      const release = controller.tryAdmit(0, 100);
      if (!release) break;
      lows.push(release);
    }
    assert.equal(lows.length, 2, "priority 0 is shed from half the capacity");
    const highs: Array<() => void> = [];
    for (;;) {
      const release = controller.tryAdmit(9, 100);
      if (!release) break;
      highs.push(release);
    }
    assert.equal(lows.length + highs.length, 16, "priority 9 fills slots and queue");
    assert.equal(controller.stats(100).demandTokensPerSecond, 1_600);
    for (const release of [...lows, ...highs]) release();
    assert.equal(controller.stats(100).inFlight, 0);
  });

  test("an upstream 529 lowers the effective capacity; successes restore it step by step", () => {
    const controller = new AdmissionController({ capacity: 10 });
    const held = Array.from({ length: 6 }, () => controller.tryAdmit(9, 1));
    controller.upstreamOverloaded();
    assert.ok(Math.abs(controller.stats(1).effectiveCapacity - 5.4) < 1e-9);
    for (const release of held) release?.();
    for (let i = 0; i < 100; i++) controller.upstreamSucceeded();
    assert.equal(controller.stats(1).effectiveCapacity, 10);
  });
});

describe("priority load shedding on a small simulated pool", () => {
  let server: TestGateway;
  let low: Anthropic;
  let high: Anthropic;

  before(async () => {
    server = await startTestGateway({
      plan: "api-tier-4",
      configure(config) {
        config.upstreams.simulated = { type: "simulated", slots: 4, queue: 12, queue_timeout_ms: 10_000 };
        const sonnet = config.models.find((model) => model.id === "claude-sonnet-4-6");
        if (sonnet?.simulation)
          sonnet.simulation = { ...sonnet.simulation, decode_tokens_per_s: 400, ttft_ms: 0 };
      },
    });
    low = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    high = new Anthropic({
      baseURL: server.url,
      apiKey: server.gateway.accounts.createKey("vip", "priority").key,
      maxRetries: 0,
    });
  });
  after(() => server.stop());

  const ask = (client: Anthropic) =>
    client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 200,
      messages: [{ role: "user", content: "sim:tokens=100" }],
    });

  test("under a burst the lowest priority gets 529 first, the highest keeps ≥ 99% success, and all recovers", async () => {
    const tally = { lowOk: 0, lowShed: 0, highOk: 0, highFailed: 0 };
    const stopAt = performance.now() + 2_500;
    const lowWorker = async () => {
      while (performance.now() < stopAt) {
        try {
          await ask(low);
          tally.lowOk++;
        } catch (error) {
          assert.ok(error instanceof Anthropic.APIError && error.status === 529, String(error));
          assert.match(error.message, /overloaded_error/);
          tally.lowShed++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    const highWorker = async () => {
      while (performance.now() < stopAt) {
        try {
          await ask(high);
          tally.highOk++;
        } catch {
          tally.highFailed++;
        }
      }
    };
    await Promise.all([...Array.from({ length: 30 }, lowWorker), ...Array.from({ length: 4 }, highWorker)]);
    assert.ok(tally.lowShed > 0, "low priority was shed");
    assert.ok(tally.lowOk > 0, "low priority still got its share");
    const highSuccess = tally.highOk / (tally.highOk + tally.highFailed);
    assert.ok(highSuccess >= 0.99, `high priority success ${highSuccess} (${JSON.stringify(tally)})`);
    // After the burst: nothing in flight, and the lowest priority is served again.
    assert.equal(server.gateway.admission.get("simulated")?.stats(0).inFlight, 0);
    assert.equal((await ask(low)).usage.output_tokens, 100);
    // The ledger and the metrics both count the shedding.
    await server.gateway.ledger.flush();
    const rows = await server.gateway.ledger.summary({ account: "test" });
    assert.equal(rows[0]?.errors, tally.lowShed);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const shed = /headroom_shed_total\{upstream="simulated",priority="4"\} (\d+)/.exec(metrics);
    assert.equal(Number(shed?.[1]), tally.lowShed);
    assert.doesNotMatch(metrics, /headroom_shed_total\{upstream="simulated",priority="9"\}/);
  });
});
