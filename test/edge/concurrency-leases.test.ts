/**
 * A request's concurrency slot lives exactly as long as the request: its gateway keeps the
 * lease alive while it runs (so a request longer than the lease time keeps its slot), releases
 * it when it ends, and a gateway that dies stops keeping it, so its slots come back within the
 * lease time. Lease ids never collide between gateways.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CONCURRENCY_RETRY_HINT_MS, DEFAULT_LEASE_MS } from "../../src/limits/concurrency.ts";
import { slowGatewaysOnRedis } from "../helpers/cli.ts";
import { type FakeUpstream, startFakeAnthropic } from "../helpers/fake-upstreams.ts";
import {
  catalogModel,
  httpUpstream,
  postMessages,
  startTestGateway,
  type TestGateway,
} from "../helpers/gateway.ts";
import { REDIS_URL, redisScope } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

const LEASE_MS = 3_000;

/** A request to a model whose upstream never answers: it holds its slot until aborted. */
function hold(server: TestGateway, key: string): { abort: () => void; settled: Promise<unknown> } {
  const controller = new AbortController();
  const settled = fetch(`${server.url}/v1/messages`, {
    method: "POST",
    signal: controller.signal,
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({ model: "hang-slow", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }),
  }).catch(() => undefined);
  return { abort: () => controller.abort(), settled };
}

/** A quick request's outcome: 200, or the 429's message. */
async function quick(server: TestGateway, key: string): Promise<string> {
  const response = await postMessages(
    server,
    { model: "fake", max_tokens: 8, messages: [{ role: "user", content: "hi" }] },
    { headers: { "x-api-key": key } },
  );
  const body = (await response.json()) as { error?: { message: string } };
  return response.status === 200 ? "200" : `${response.status} ${body.error?.message}`;
}

/** A gateway whose `hang-slow` model waits on an upstream that never answers. */
function gatewayOn(
  upstream: FakeUpstream,
  clock: () => number,
  env: NodeJS.ProcessEnv = {},
  leaseMs = LEASE_MS,
) {
  return startTestGateway({
    clock,
    env,
    configure: (config) => {
      config.limiter.concurrency_lease_ms = leaseMs;
      config.upstreams.fake = httpUpstream({ type: "anthropic", url: upstream.url, timeout_ms: 600_000 });
      config.models.push(
        catalogModel("fake", { upstream: "fake" }),
        catalogModel("hang-slow", { upstream: "fake", upstream_model: "fake-slow" }),
      );
    },
  });
}

/** A key of api-tier-4 held to `concurrency` requests in flight. */
async function narrowKey(server: TestGateway, account: string, concurrency: number) {
  const created = await server.gateway.accounts.createKey(account, "api-tier-4");
  await server.gateway.accounts.setLimits("key", created.id, { concurrency });
  return created;
}

const inFlightRefusal = /^429 Rate limit of 1 request in flight exceeded \(key [^)]+\)/;

describe("concurrency leases kept alive while their request runs", () => {
  let upstream: FakeUpstream;
  let server: TestGateway;
  const clock = { now: Date.UTC(2026, 11, 1, 12) };

  before(async () => {
    upstream = await startFakeAnthropic();
    server = await gatewayOn(upstream, () => clock.now);
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  test("a request running past the lease time keeps its slot; it frees when the request ends", async () => {
    const { key } = await narrowKey(server, "long-runner", 1);
    const running = hold(server, key);
    await waitFor(() => server.gateway.enforcer.heldLeases === 1, "the held request's lease");
    // Ten lease times pass on the gateway's clock; one keep-alive after them holds the slot.
    clock.now += 10 * LEASE_MS;
    await server.gateway.enforcer.keepAlive();
    assert.match(await quick(server, key), inFlightRefusal);
    // Again, now waiting for the gateway's own timer (every third of the lease time) to keep it.
    clock.now += 10 * LEASE_MS;
    await waitFor(
      async () => inFlightRefusal.test(await quick(server, key)),
      "the timer to keep the lease alive",
    );
    running.abort();
    await running.settled;
    await waitFor(() => server.gateway.enforcer.heldLeases === 0, "the lease to be let go");
    assert.equal(await quick(server, key), "200");
  });
});

describe("what a refusal for requests in flight advises", () => {
  let upstream: FakeUpstream;
  let server: TestGateway;
  const clock = { now: Date.UTC(2026, 11, 1, 12) };

  before(async () => {
    upstream = await startFakeAnthropic();
    // The default lease time (60 s): a kept-alive lease's expiry is no time to wait for a slot.
    server = await gatewayOn(upstream, () => clock.now, {}, DEFAULT_LEASE_MS);
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  async function refusal(key: string) {
    const response = await postMessages(
      server,
      { model: "fake", max_tokens: 8, messages: [{ role: "user", content: "hi" }] },
      { headers: { "x-api-key": key } },
    );
    const body = (await response.json()) as { error: { message: string } };
    assert.equal(response.status, 429);
    return { headers: response.headers, message: body.error.message };
  }

  test("a full slot advises a short poll (the SDKs and Claude Code wait it and retry), not the lease's expiry", async () => {
    const { key } = await narrowKey(server, "poller", 1);
    const running = hold(server, key);
    await waitFor(() => server.gateway.enforcer.heldLeases === 1, "the held request's lease");
    const { headers, message } = await refusal(key);
    assert.equal(headers.get("retry-after"), String(CONCURRENCY_RETRY_HINT_MS / 1000));
    assert.equal(headers.get("retry-after-ms"), String(CONCURRENCY_RETRY_HINT_MS));
    assert.equal(headers.get("x-should-retry"), "true");
    assert.match(
      message,
      new RegExp(`in flight exceeded \\(key [^)]+\\); retry after ${CONCURRENCY_RETRY_HINT_MS / 1000} s\\.$`),
    );
    running.abort();
    await running.settled;
  });

  test("when a rate also refuses for longer, the refusal names the rate and its wait", async () => {
    const created = await narrowKey(server, "poller-rpm", 1);
    await server.gateway.accounts.setLimits("key", created.id, { concurrency: 1, requests_per_minute: 1 });
    const running = hold(server, created.key);
    await waitFor(() => server.gateway.enforcer.heldLeases === 1, "the held request's lease");
    const { headers, message } = await refusal(created.key);
    assert.equal(headers.get("retry-after"), "60");
    assert.match(message, /request per minute/);
    running.abort();
    await running.settled;
  });
});

const { skip, prefix } = await redisScope("conc-leases");

/** Account `shared` in organisation `org-x`, which allows 2 requests in flight. */
async function sharedAccount(server: TestGateway): Promise<string> {
  const { accounts } = server.gateway;
  await accounts.createOrganisation("org-x", { concurrency: 2 });
  await accounts.createTeam("team-x", "org-x", {});
  const { key } = await accounts.createKey("shared", "api-tier-4");
  assert.equal(await accounts.setAccountTeam("shared", "team-x"), true);
  return key;
}

describe("concurrency leases on Redis, across gateways", { skip }, () => {
  let upstream: FakeUpstream;
  const DAY_MS = 86_400_000;

  before(async () => {
    upstream = await startFakeAnthropic();
  });
  after(() => upstream.close());

  // The gateways' clock is a day apart from the Redis server's, either way: the refusal must be
  // read from the decision's own instant (a rate with room must never be named).
  for (const skewMs of [-DAY_MS, DAY_MS]) {
    test(`two gateways never share a lease id: the first request on each holds its own slot (gateway clock ${skewMs > 0 ? "ahead of" : "behind"} Redis)`, async () => {
      const clock = () => Date.now() + skewMs;
      const env = { REDIS_URL, HEADROOM_REDIS_PREFIX: `${prefix}ids${skewMs}:` };
      const one = await gatewayOn(upstream, clock, env);
      const two = await gatewayOn(upstream, clock, env);
      try {
        const [keyOne, keyTwo] = [await sharedAccount(one), await sharedAccount(two)];
        // The first request each gateway admits: ids numbered per gateway would be the same.
        const first = hold(one, keyOne);
        const second = hold(two, keyTwo);
        await waitFor(
          () => one.gateway.enforcer.heldLeases === 1 && two.gateway.enforcer.heldLeases === 1,
          "a request held on each gateway",
        );
        assert.match(
          await quick(one, keyOne),
          /^429 Rate limit of 2 requests in flight exceeded \(organisation org-x\)/,
        );
        first.abort();
        second.abort();
        await Promise.all([first.settled, second.settled]);
      } finally {
        await one.stop();
        await two.stop();
      }
    });
  }
});

/**
 * Two `headroom serve` processes on one Redis and one data directory; the first holds the key's
 * only slot with a slow stream and is SIGKILLed. The second admits the key again once the dead
 * gateway's lease runs out, which it never would with a lease that outlived its gateway.
 */
describe("a SIGKILLed gateway's slots come back within the lease time", { skip }, () => {
  const gateways = slowGatewaysOnRedis(REDIS_URL, `${prefix}kill:`, LEASE_MS);

  test("the surviving gateway refuses while the stream runs, and admits once the lease expires", async (t) => {
    const { key, id } = JSON.parse(
      await gateways.cli(["keys", "create", "--account", "solo", "--plan", "api-tier-4", "--json"]),
    ) as { key: string; id: string };
    await gateways.cli(["keys", "set", id, "--concurrency", "1"]);
    const [doomed, survivor] = [await gateways.serve(), await gateways.serve()];
    const ask = (url: string, tokens: number, signal?: AbortSignal) =>
      fetch(`${url}/v1/messages`, {
        method: "POST",
        signal,
        headers: { "x-api-key": key, "content-type": "application/json" },
        body: JSON.stringify({
          model: "claude-sonnet-4-6",
          max_tokens: tokens,
          stream: true,
          messages: [{ role: "user", content: `sim:tokens=${tokens}` }],
        }),
      });
    const controller = new AbortController();
    const long = await ask(doomed.url, 10_000, controller.signal);
    assert.equal(long.status, 200, "the long stream was admitted");
    const refused = await ask(survivor.url, 1);
    assert.equal(refused.status, 429);
    assert.match(
      ((await refused.json()) as { error: { message: string } }).error.message,
      /^Rate limit of 1 request in flight exceeded \(key /,
    );

    const killedAt = performance.now();
    doomed.child.kill("SIGKILL");
    controller.abort();
    let admittedAfterMs = 0;
    await waitFor(
      async () => {
        const response = await ask(survivor.url, 1);
        await response.arrayBuffer();
        admittedAfterMs = performance.now() - killedAt;
        return response.status === 200;
      },
      "the dead gateway's lease to expire",
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    t.diagnostic(
      `slot back ${(admittedAfterMs / 1000).toFixed(1)} s after the SIGKILL (lease time ${LEASE_MS / 1000} s)`,
    );
  });
});
