import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { type FakeUpstream, startFakeAnthropic } from "../helpers/fake-upstreams.ts";
import {
  catalogModel,
  httpUpstream,
  recordedUsage,
  scrapeMetrics,
  startTestGateway,
  type TestGateway,
} from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Deployments over real HTTP: each fake server decides its behaviour by the model id it receives,
 * so a deployment's upstream_model picks how it fails (-500, -529, -reset, -cut) or succeeds.
 */
describe("a model with several deployments, over HTTP", () => {
  let siteA: FakeUpstream;
  let siteB: FakeUpstream;
  let server: TestGateway;
  let client: Anthropic;

  const model = (id: string, deployments: Array<{ upstream: string; upstream_model: string }>) =>
    catalogModel(id, {
      upstream: `deployments:${id}`,
      deployments: deployments.map((deployment) => ({ ...deployment, weight: 1 })),
    });

  before(async () => {
    siteA = await startFakeAnthropic();
    siteB = await startFakeAnthropic();
    server = await startTestGateway({
      configure(config) {
        // Probes every 20 ms: the unreachable deployment is found out without a request.
        config.routing = {
          ...config.routing,
          backoff_ms: 1,
          health_check_interval_ms: 20,
          breaker_failures: 2,
        };
        // Site A is the emptier one, so capacity-aware routing tries it first.
        config.upstreams.a = httpUpstream({
          type: "anthropic",
          url: siteA.url,
          timeout_ms: 30_000,
          capacity_concurrency: 100,
        });
        config.upstreams.b = httpUpstream({
          type: "anthropic",
          url: siteB.url,
          timeout_ms: 30_000,
          capacity_concurrency: 10,
        });
        config.upstreams.down = httpUpstream({
          type: "anthropic",
          url: "http://127.0.0.1:1",
          timeout_ms: 1000,
          capacity_concurrency: 1000,
        });
        for (const failure of ["500", "529", "reset"]) {
          config.models.push(
            model(`flaky-${failure}`, [
              { upstream: "a", upstream_model: `x-${failure}` },
              { upstream: "b", upstream_model: "x" },
            ]),
          );
        }
        config.models.push(
          model("refused", [
            { upstream: "down", upstream_model: "x" },
            { upstream: "b", upstream_model: "x" },
          ]),
          model("cut", [
            { upstream: "a", upstream_model: "x-cut" },
            { upstream: "b", upstream_model: "x" },
          ]),
        );
      },
    });
    client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
  });
  after(async () => {
    await server.stop();
    await siteA.close();
    await siteB.close();
  });

  for (const failure of ["500", "529", "reset"]) {
    test(`a ${failure} from the first deployment is answered by the second; the client never knows`, async () => {
      const [beforeA, beforeB] = [siteA.requests.length, siteB.requests.length];
      const { data: message, response } = await client.messages
        .create({ model: `flaky-${failure}`, max_tokens: 20, messages: [{ role: "user", content: "hi" }] })
        .withResponse();
      assert.equal(message.content[0]?.type, "text");
      assert.deepEqual([siteA.requests.length - beforeA, siteB.requests.length - beforeB], [1, 1]);
      const recorded = await recordedUsage(server, response.headers.get("request-id"));
      assert.equal(recorded.status, 200);
      assert.equal(recorded.model, `flaky-${failure}`);
    });
  }

  test("active health checks find the unreachable deployment on their own", async () => {
    await waitFor(async () => {
      const text = await scrapeMetrics(server);
      return /headroom_deployment_breaker_open\{model="refused",deployment="down"\} 1/.test(text);
    }, "the breaker of the deployment nobody listens for to open");
    const text = await scrapeMetrics(server);
    assert.match(text, /headroom_deployment_breaker_open\{model="refused",deployment="b"\} 0/);
  });

  test("a refused connection moves on too, for a stream", async () => {
    const stream = client.messages.stream({
      model: "refused",
      max_tokens: 20,
      messages: [{ role: "user", content: "hi" }],
    });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, "end_turn");
  });

  test("a stream cut after its first bytes is not retried: the client hears of the failure", async () => {
    const beforeB = siteB.requests.length;
    const stream = client.messages.stream({
      model: "cut",
      max_tokens: 20,
      messages: [{ role: "user", content: "hi" }],
    });
    await assert.rejects(stream.finalMessage());
    assert.equal(siteB.requests.length, beforeB, "the second deployment was never asked");
  });

  test("/metrics shows attempts per deployment and outcome", async () => {
    const text = await scrapeMetrics(server);
    assert.match(
      text,
      /headroom_deployment_attempts_total\{model="flaky-500",deployment="a",outcome="failed"\} 1/,
    );
    assert.match(
      text,
      /headroom_deployment_attempts_total\{model="flaky-500",deployment="b",outcome="ok"\} 1/,
    );
  });
});
