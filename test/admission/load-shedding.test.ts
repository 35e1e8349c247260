import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { AdmissionController } from "../../src/admission/admission-controller.ts";
import { scrapeMetrics, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

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
      apiKey: (await server.gateway.accounts.createKey("vip", "priority")).key,
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

  test("under a burst the lowest priority gets 529 first, the highest is never shed, and all recovers", async () => {
    // A fixed amount of work, whatever the machine's speed: 30 low-priority workers make 3
    // attempts each, 4 top-priority workers 5 each. Each reply holds a slot for at least 250 ms,
    // so the 30 first low requests arrive together and overrun the low priority's share (8 of
    // the 16 slots and queue places); top priority may use all 16, and never more than 16 are
    // admitted, so it always finds room.
    const tally = { lowOk: 0, lowShed: 0, highOk: 0, highFailed: 0 };
    const lowWorker = async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await ask(low);
          tally.lowOk++;
        } catch (error) {
          assert.ok(error instanceof Anthropic.APIError && error.status === 529, String(error));
          assert.match(error.message, /overloaded_error/);
          tally.lowShed++;
        }
      }
    };
    const highWorker = async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await ask(high);
          tally.highOk++;
        } catch {
          tally.highFailed++;
        }
      }
    };
    await Promise.all([...Array.from({ length: 30 }, lowWorker), ...Array.from({ length: 4 }, highWorker)]);
    assert.ok(tally.lowShed > 0, `low priority was shed (${JSON.stringify(tally)})`);
    assert.ok(tally.lowOk > 0, `low priority still got its share (${JSON.stringify(tally)})`);
    assert.deepEqual([tally.highOk, tally.highFailed], [20, 0], "top priority is never shed");
    // After the burst: nothing in flight, and the lowest priority is served again.
    const admission = server.gateway.admission.get("simulated");
    await waitFor(() => admission?.stats(0).inFlight === 0, "every admitted request to be released");
    assert.equal((await ask(low)).usage.output_tokens, 100);
    // The ledger and the metrics both count the shedding.
    const rows = await waitFor(async () => {
      await server.gateway.ledger.flush();
      const summary = await server.gateway.ledger.summary({ account: "test" });
      return summary[0]?.requests === tally.lowOk + tally.lowShed + 1 && summary;
    }, "the ledger to record every low-priority request");
    assert.equal(rows[0]?.errors, tally.lowShed);
    const metrics = await scrapeMetrics(server);
    const shed = /headroom_shed_total\{upstream="simulated",priority="4"\} (\d+)/.exec(metrics);
    assert.equal(Number(shed?.[1]), tally.lowShed);
    assert.doesNotMatch(metrics, /headroom_shed_total\{upstream="simulated",priority="9"\}/);
  });
});
