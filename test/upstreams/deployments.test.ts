import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { invalidRequest, overloaded, upstreamFailed } from "../../src/common/errors.ts";
import { routingSchema } from "../../src/config/schema.ts";
import { type SseEvent, sseEvent } from "../../src/protocol/anthropic.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import {
  type BalancerOptions,
  DeploymentBalancer,
  type DeploymentTarget,
} from "../../src/upstreams/deployments.ts";
import { seededRandom } from "../../src/upstreams/simulated-text.ts";
import type { MessageCall, MessageReply, Upstream } from "../../src/upstreams/upstream.ts";

type Behaviour = "ok" | "fail" | "bad-request" | "error-event" | "cut-after-first";

/** An in-process upstream that behaves as told and remembers the model ids it was asked for. */
class ScriptedUpstream implements Upstream {
  readonly models: string[] = [];
  /** Called before answering: tests move their clock here to play a slow first byte. */
  onCall: () => void = () => {};
  /** Whether an active health probe succeeds. */
  reachable = true;
  async probe(): Promise<void> {
    if (!this.reachable) throw upstreamFailed(`Upstream ${this.name} failed: connection refused`);
  }
  constructor(
    readonly name: string,
    public behaviour: Behaviour = "ok",
  ) {}
  get calls(): number {
    return this.models.length;
  }
  async createMessage(call: MessageCall): Promise<MessageReply> {
    this.models.push(call.body.model);
    this.onCall();
    if (this.behaviour === "fail") throw upstreamFailed(`Upstream ${this.name} failed: connection refused`);
    if (this.behaviour === "bad-request") throw invalidRequest("messages: bad");
    const behaviour = this.behaviour;
    const name = this.name;
    async function* events(): AsyncGenerator<SseEvent> {
      if (behaviour === "error-event") {
        yield sseEvent({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
        return;
      }
      yield sseEvent({ type: "message_start", message: { id: name } });
      if (behaviour === "cut-after-first") throw upstreamFailed(`Upstream ${name} failed: other side closed`);
      yield sseEvent({ type: "message_stop" });
    }
    return { kind: "events", events: events() };
  }
}

const call = (signal = new AbortController().signal): MessageCall => ({
  body: { model: "m", max_tokens: 10, messages: [{ role: "user", content: "hi" }], stream: true },
  model: {
    requested: "m",
    entry: {} as MessageCall["model"]["entry"],
    upstream: "deployments:m",
    upstreamModel: "m",
  },
  inputTokens: 1,
  headers: {},
  signal,
});

async function drain(reply: MessageReply): Promise<string[]> {
  assert.equal(reply.kind, "events");
  const names: string[] = [];
  if (reply.kind === "events") for await (const event of reply.events) names.push(event.event);
  return names;
}

function balancer(
  targets: Array<Partial<DeploymentTarget> & { upstream: Upstream }>,
  options: Partial<BalancerOptions> = {},
  fallbacks: Array<DeploymentTarget & { model: string }> = [],
) {
  const clock = { now: 0 };
  const sleeps: number[] = [];
  const metrics = new Metrics();
  const instance = new DeploymentBalancer(
    "deployments:m",
    "m",
    targets.map((target) => ({ name: target.upstream.name, weight: 1, ...target })),
    () => fallbacks,
    {
      ...routingSchema.parse({}),
      clock: () => clock.now,
      // A seeded generator: weight checks cannot pass or fail by luck.
      random: seededRandom(7),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      metrics,
      ...options,
    },
  );
  return { instance, clock, sleeps, metrics };
}

describe("a model's deployments", () => {
  test("weights hold within 2% over 10,000 requests (weighted strategy)", async () => {
    const a = new ScriptedUpstream("a");
    const b = new ScriptedUpstream("b");
    const { instance } = balancer(
      [
        { upstream: a, weight: 3 },
        { upstream: b, weight: 1 },
      ],
      { strategy: "weighted" },
    );
    for (let i = 0; i < 10_000; i++) await drain(await instance.createMessage(call()));
    assert.equal(a.calls + b.calls, 10_000);
    assert.ok(Math.abs(a.calls / 10_000 - 0.75) < 0.02, `a served ${a.calls}`);
  });

  test("capacity-aware: the deployment with the most free capacity wins, whatever the weights", async () => {
    const a = new ScriptedUpstream("a");
    const b = new ScriptedUpstream("b");
    const free = { a: 2, b: 10 };
    const { instance } = balancer([
      { upstream: a, weight: 100, capacity: () => free.a },
      { upstream: b, weight: 1, capacity: () => free.b },
    ]);
    for (let i = 0; i < 20; i++) await drain(await instance.createMessage(call()));
    assert.deepEqual([a.calls, b.calls], [0, 20]);
    free.b = 1;
    for (let i = 0; i < 20; i++) await drain(await instance.createMessage(call()));
    assert.deepEqual([a.calls, b.calls], [20, 20]);
  });

  test("a stream holds its deployment's capacity until it ends", async () => {
    const a = new ScriptedUpstream("a");
    const b = new ScriptedUpstream("b");
    const { instance } = balancer([
      { upstream: a, capacity: () => 1 },
      { upstream: b, capacity: () => 1 },
    ]);
    const first = await instance.createMessage(call());
    const second = await instance.createMessage(call());
    assert.deepEqual([a.calls, b.calls], [1, 1], "the second went where the first was not");
    assert.deepEqual(
      instance.deploymentHealth().map((deployment) => deployment.free),
      [0, 0],
    );
    await drain(first);
    await drain(second);
    assert.deepEqual(
      instance.deploymentHealth().map((deployment) => deployment.free),
      [1, 1],
    );
  });

  test("a failure before the first byte moves to the next deployment, after a jittered backoff", async () => {
    const a = new ScriptedUpstream("a", "fail");
    const b = new ScriptedUpstream("b", "error-event");
    const c = new ScriptedUpstream("c");
    const { instance, sleeps, metrics } = balancer([
      { upstream: a, capacity: () => 30 },
      { upstream: b, capacity: () => 20 },
      { upstream: c, capacity: () => 10 },
    ]);
    assert.deepEqual(await drain(await instance.createMessage(call())), ["message_start", "message_stop"]);
    assert.deepEqual([a.calls, b.calls, c.calls], [1, 1, 1]);
    assert.equal(sleeps.length, 2);
    assert.ok((sleeps[0] ?? -1) >= 0 && (sleeps[0] ?? 1e9) < 100, "first backoff under 100 ms");
    assert.ok((sleeps[1] ?? 1e9) < 200, "second under 200 ms");
    const text = await metrics.registry.metrics();
    assert.match(text, /headroom_deployment_attempts_total\{model="m",deployment="a",outcome="failed"\} 1/);
    assert.match(text, /headroom_deployment_attempts_total\{model="m",deployment="c",outcome="ok"\} 1/);
  });

  test("never a retry once output has started, nor for the request's own 4xx", async () => {
    const a = new ScriptedUpstream("a", "cut-after-first");
    const b = new ScriptedUpstream("b");
    const { instance } = balancer([
      { upstream: a, capacity: () => 2 },
      { upstream: b, capacity: () => 1 },
    ]);
    const reply = await instance.createMessage(call());
    await assert.rejects(drain(reply), /other side closed/);
    assert.deepEqual([a.calls, b.calls], [1, 0]);
    a.behaviour = "bad-request";
    await assert.rejects(instance.createMessage(call()), /messages: bad/);
    assert.deepEqual([a.calls, b.calls], [2, 0]);
  });

  test("retries stop at the configured number, with the last error", async () => {
    const upstreams = ["a", "b", "c", "d"].map((name) => new ScriptedUpstream(name, "fail"));
    const { instance } = balancer(
      upstreams.map((upstream) => ({ upstream })),
      { retries: 2 },
    );
    await assert.rejects(instance.createMessage(call()), /connection refused/);
    assert.equal(
      upstreams.reduce((sum, upstream) => sum + upstream.calls, 0),
      3,
    );
  });

  test("the breaker opens after consecutive failures, keeps traffic away, then lets one trial through", async () => {
    const a = new ScriptedUpstream("a", "fail");
    const b = new ScriptedUpstream("b");
    const { instance, clock } = balancer(
      [
        { upstream: a, capacity: () => 10 },
        { upstream: b, capacity: () => 1 },
      ],
      { breaker_failures: 3, breaker_cooldown_ms: 30_000 },
    );
    for (let i = 0; i < 3; i++) await drain(await instance.createMessage(call()));
    assert.equal(a.calls, 3);
    assert.equal(instance.deploymentHealth()[0]?.state, "open");
    for (let i = 0; i < 5; i++) await drain(await instance.createMessage(call()));
    assert.equal(a.calls, 3, "an open breaker keeps requests away");
    clock.now += 30_000;
    assert.equal(instance.deploymentHealth()[0]?.state, "half_open");
    a.behaviour = "ok";
    await drain(await instance.createMessage(call()));
    assert.equal(a.calls, 4, "one trial");
    assert.equal(instance.deploymentHealth()[0]?.state, "closed");
  });

  test("when every deployment failed, the fallback model serves under its own id", async () => {
    const a = new ScriptedUpstream("a", "fail");
    const small = new ScriptedUpstream("small");
    const { instance, metrics } = balancer([{ upstream: a }], {}, [
      {
        name: "small-model",
        model: "small-model",
        upstream: small,
        weight: 1,
        upstreamModel: "small-upstream-id",
      },
    ]);
    await drain(await instance.createMessage(call()));
    assert.deepEqual(small.models, ["small-upstream-id"]);
    assert.match(
      await metrics.registry.metrics(),
      /headroom_fallbacks_total\{model="m",fallback="small-model"\} 1/,
    );
  });

  test("a client that leaves during the backoff ends the attempts", async () => {
    const a = new ScriptedUpstream("a", "fail");
    const b = new ScriptedUpstream("b");
    const controller = new AbortController();
    const { instance } = balancer(
      [
        { upstream: a, capacity: () => 2 },
        { upstream: b, capacity: () => 1 },
      ],
      {
        sleep: async () => {
          controller.abort(new Error("client left"));
          throw controller.signal.reason;
        },
      },
    );
    await assert.rejects(instance.createMessage(call(controller.signal)), /client left/);
    assert.deepEqual([a.calls, b.calls], [1, 0]);
  });

  test("with no deployment able to take requests, the answer is overloaded, not a crash", async () => {
    const a = new ScriptedUpstream("a", "fail");
    const { instance } = balancer([{ upstream: a }], { breaker_failures: 1, retries: 0 });
    await assert.rejects(instance.createMessage(call()), /connection refused/);
    await assert.rejects(instance.createMessage(call()), (error: unknown) => {
      const expected = overloaded("x", 5);
      return error instanceof Error && (error as typeof expected).status === 529;
    });
  });

  test("active health checks open the breaker of a deployment that stopped answering, and close it when it is back", async () => {
    const a = new ScriptedUpstream("a");
    const b = new ScriptedUpstream("b");
    const { instance } = balancer(
      [
        { upstream: a, capacity: () => 10 },
        { upstream: b, capacity: () => 1 },
      ],
      { breaker_failures: 2 },
    );
    a.reachable = false;
    await instance.checkHealth(100);
    assert.equal(instance.deploymentHealth()[0]?.state, "closed", "one failed probe is not yet enough");
    await instance.checkHealth(100);
    assert.equal(instance.deploymentHealth()[0]?.state, "open");
    await drain(await instance.createMessage(call()));
    assert.deepEqual([a.calls, b.calls], [0, 1], "no request was sent to find out");
    a.reachable = true;
    await instance.checkHealth(100);
    assert.equal(instance.deploymentHealth()[0]?.state, "closed");
    await drain(await instance.createMessage(call()));
    assert.deepEqual([a.calls, b.calls], [1, 1]);
  });

  test("passive latency health: a deployment whose first byte is slower than slow_after_ms is taken out like a failing one", async () => {
    const a = new ScriptedUpstream("a");
    const b = new ScriptedUpstream("b");
    const { instance, clock, metrics } = balancer(
      [
        { upstream: a, capacity: () => 10 },
        { upstream: b, capacity: () => 1 },
      ],
      { slow_after_ms: 2_000, breaker_failures: 2 },
    );
    a.onCall = () => {
      clock.now += 5_000; // a answers, but after five seconds
    };
    for (let i = 0; i < 2; i++)
      assert.deepEqual(await drain(await instance.createMessage(call())), ["message_start", "message_stop"]);
    assert.equal(instance.deploymentHealth()[0]?.state, "open", "two slow answers open the breaker");
    assert.equal(instance.deploymentHealth()[0]?.latencyMs, 5_000);
    await drain(await instance.createMessage(call()));
    assert.deepEqual([a.calls, b.calls], [2, 1], "the slow deployment gets no more traffic for now");
    const text = await metrics.registry.metrics();
    assert.match(text, /headroom_deployment_attempts_total\{model="m",deployment="a",outcome="slow"\} 2/);
    assert.match(text, /headroom_deployment_first_byte_seconds\{model="m",deployment="a"\} 5/);
  });
});
