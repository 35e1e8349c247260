import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { defaultPolicy } from "../../src/plans/default-policy.ts";
import { readPolicyFile } from "../../src/plans/load-policy.ts";
import { type Policy, policySchema } from "../../src/plans/schema.ts";
import { openDatabase } from "../../src/stores/sqlite.ts";
import { SqlitePolicyStore } from "../../src/stores/sqlite-policies.ts";
import {
  recordedUsage,
  startTestGateway,
  streamThenDisconnect,
  type TestGateway,
} from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

const HOUR = 3_600_000;

/** Applies policies from a second database connection, as `headroom policy apply` does. */
async function applyFromAnotherProcess(server: TestGateway, policies: Policy[]) {
  const db = openDatabase(server.dataDir);
  const store = new SqlitePolicyStore(db);
  await store.applyAll(policies);
  db.close();
  // The gateway notices another connection's commit on its own (it polls the database's version).
  const versions = policies.map((policy) => policy.version);
  await waitFor(
    () => {
      const seen = new Set(server.gateway.policies.timeline(0).map(({ policy }) => policy.version));
      return versions.every((version) => seen.has(version));
    },
    `the gateway to see policies ${versions.join(", ")}`,
  );
}

interface Limit {
  name: string;
  limit: number;
  remaining: number;
  resets_at: string;
}

async function limitsOf(server: TestGateway, key: string, model = "claude-sonnet-4-6") {
  const response = await fetch(`${server.url}/v1/headroom/limits?model=${model}`, {
    headers: { "x-api-key": key },
  });
  assert.equal(response.status, 200);
  return (await response.json()) as { plan: string; policy: string; peak: boolean; limits: Limit[] };
}

const limit = (view: { limits: Limit[] }, name: string) =>
  view.limits.find((entry) => entry.name === name) as Limit;

function ask(client: Anthropic, tokens: number, model = "claude-sonnet-4-6", maxTokens = 10_000) {
  return client.messages.create({
    model,
    max_tokens: maxTokens,
    messages: [{ role: "user", content: `sim:tokens=${tokens}` }],
  });
}

describe("API tiers: requests/min and output tokens/min", () => {
  const clock = { now: Date.UTC(2026, 6, 1, 12) };
  let server: TestGateway;
  let client: Anthropic;

  before(async () => {
    server = await startTestGateway({ clock: () => clock.now, plan: "api-tier-1" });
    client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
  });
  after(() => server.stop());

  test("the 51st request in a minute gets 429 with the limit named and headers; waiting retry-after succeeds", async () => {
    const { response } = await ask(client, 1).withResponse();
    assert.equal(response.headers.get("anthropic-ratelimit-requests-limit"), "50");
    assert.equal(response.headers.get("anthropic-ratelimit-requests-remaining"), "49");
    assert.equal(response.headers.get("anthropic-ratelimit-input-tokens-limit"), "30000");
    assert.equal(response.headers.get("anthropic-ratelimit-output-tokens-limit"), "8000");
    assert.match(response.headers.get("anthropic-ratelimit-requests-reset") ?? "", /^2026-07-01T12:00:01Z$/);
    for (let i = 1; i < 50; i++) await ask(client, 1);
    const error = await ask(client, 1).then(
      () => assert.fail("the 51st request was admitted"),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof Anthropic.RateLimitError);
    assert.match(
      error.message,
      /Rate limit of 50 requests per minute exceeded \(plan api-tier-1\); retry after 2 s/,
    );
    assert.equal(error.headers?.get("retry-after"), "2");
    assert.equal(error.headers?.get("retry-after-ms"), "1200");
    assert.equal(error.headers?.get("anthropic-ratelimit-requests-remaining"), "0");
    assert.equal(error.headers?.get("x-should-retry"), "true");
    // The refusal's ledger row names the limit that refused; an admitted row names none.
    const refusedRow = await recordedUsage(server, error.headers?.get("request-id"));
    assert.deepEqual([refusedRow.status, refusedRow.limited_by], [429, "rpm"]);
    const admittedRow = await recordedUsage(server, response.headers.get("request-id"));
    assert.equal(admittedRow.limited_by, null);
    clock.now += 1_199;
    await assert.rejects(ask(client, 1), Anthropic.RateLimitError);
    clock.now += 1;
    assert.equal((await ask(client, 1)).usage.output_tokens, 1);
  });

  test("output tokens are charged as produced: a big reply leaves debt and the next request waits it off", async () => {
    clock.now += 10 * 60_000; // a fresh minute: every bucket full again
    await ask(client, 5_000);
    await ask(client, 5_000); // admitted on its estimate; leaves 2,000 tokens of debt
    const view = await limitsOf(server, server.key);
    assert.equal(limit(view, "otpm").remaining, 0);
    const error = await ask(client, 10).then(
      () => assert.fail("admitted while in debt"),
      (caught: unknown) => caught as InstanceType<typeof Anthropic.RateLimitError>,
    );
    assert.match(error.message, /8,000 output tokens per minute/);
    const wait = Number(error.headers?.get("retry-after-ms"));
    clock.now += wait;
    assert.equal((await ask(client, 10)).usage.output_tokens, 10);
  });

  test("the OpenAI endpoint answers 429 in its own envelope with x-ratelimit headers", async () => {
    clock.now += 10 * 60_000;
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    const { response } = await openai.chat.completions
      .create({
        model: "claude-sonnet-4-6",
        max_tokens: 5,
        messages: [{ role: "user", content: "sim:tokens=5" }],
      })
      .withResponse();
    assert.equal(response.headers.get("x-ratelimit-limit-requests"), "50");
    assert.equal(response.headers.get("x-ratelimit-remaining-requests"), "49");
    assert.equal(response.headers.get("x-ratelimit-reset-requests"), "2s");
    for (let i = 1; i < 50; i++) {
      await openai.chat.completions.create({
        model: "claude-sonnet-4-6",
        max_tokens: 5,
        messages: [{ role: "user", content: "x" }],
      });
    }
    await assert.rejects(
      openai.chat.completions.create({
        model: "claude-sonnet-4-6",
        max_tokens: 5,
        messages: [{ role: "user", content: "x" }],
      }),
      (error: unknown) =>
        error instanceof OpenAI.RateLimitError &&
        error.code === "rate_limit_exceeded" &&
        error.headers?.get("x-ratelimit-remaining-requests") === "0",
    );
  });
});

/** A small, exact policy: every request reserves max_tokens, so estimates equal the real cost. */
const exactPolicy = policySchema.parse({
  ...defaultPolicy,
  version: "test-exact",
  effective_from: "2026-01-01T00:00:00Z",
  plans: {
    pro: {
      kind: "subscription",
      priority: 3,
      session_budget_usd: 0.3,
      weekly_budget_usd: 1,
      reserve_max_tokens: true,
    },
    "max-5x": {
      kind: "subscription",
      priority: 4,
      session_budget_usd: 1.5,
      weekly_budget_usd: 5,
      reserve_max_tokens: true,
    },
  },
});

describe("subscription plans: 5-hour and weekly windows", () => {
  const clock = { now: Date.UTC(2026, 6, 6, 9, 17) };
  let server: TestGateway;
  let pro: Anthropic;
  let max: Anthropic;

  before(async () => {
    server = await startTestGateway({ clock: () => clock.now });
    await applyFromAnotherProcess(server, [exactPolicy]);
    pro = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    max = new Anthropic({
      baseURL: server.url,
      apiKey: (await server.gateway.accounts.createKey("maxer", "max-5x")).key,
      maxRetries: 0,
    });
  });
  after(() => server.stop());

  /** Sends 3,500-token Sonnet replies until refused; returns how many were admitted and the refusal. */
  async function untilRefused(client: Anthropic) {
    let admitted = 0;
    for (;;) {
      try {
        await ask(client, 3_500, "claude-sonnet-4-6", 3_500);
        admitted++;
      } catch (error) {
        assert.ok(error instanceof Anthropic.RateLimitError, String(error));
        return { admitted, error };
      }
    }
  }

  test("subscription answers carry the anthropic-ratelimit-unified-* family Claude Code reads", async () => {
    const key = (await server.gateway.accounts.createKey("unified", "pro")).key;
    const send = () =>
      fetch(`${server.url}/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json" },
        body: JSON.stringify({
          model: "claude-sonnet-4-6",
          max_tokens: 3_500,
          messages: [{ role: "user", content: "sim:tokens=3500" }],
        }),
      });
    const startedAt = clock.now;
    const first = await send();
    await first.arrayBuffer();
    assert.equal(first.status, 200);
    const h = (response: Response, name: string) =>
      response.headers.get(`anthropic-ratelimit-unified-${name}`);
    assert.equal(h(first, "status"), "allowed");
    // One 3,500-token Sonnet reply ≈ $0.0525 of the $0.30 window and of the $1 week.
    const session = Number(h(first, "5h-utilization"));
    const week = Number(h(first, "7d-utilization"));
    assert.ok(Math.abs(session - 0.0525 / 0.3) < 0.01, `5h ${session}`);
    assert.ok(Math.abs(week - 0.0525 / 1) < 0.005, `7d ${week}`);
    assert.equal(h(first, "5h-reset"), String(Math.floor((startedAt + 5 * HOUR) / 1000)));
    assert.equal(h(first, "representative-claim"), "five_hour", "the most used window");
    let refused: Response | undefined;
    const statuses: string[] = [];
    for (let i = 0; i < 10 && !refused; i++) {
      const response = await send();
      await response.arrayBuffer();
      if (response.status === 429) refused = response;
      else statuses.push(h(response, "status") ?? "");
    }
    assert.ok(refused, "the window refuses within ten replies");
    assert.ok(statuses.includes("allowed_warning"), `warned before refusing: ${statuses.join(", ")}`);
    assert.equal(h(refused, "status"), "rejected");
    assert.equal(h(refused, "representative-claim"), "five_hour");
    assert.equal(h(refused, "reset"), String(Math.floor((startedAt + 5 * HOUR) / 1000)));
  });

  test("a pro key's 5-hour window starts at its first request and resets five hours later", async () => {
    const firstAt = clock.now;
    const first = await untilRefused(pro);
    // 3,500 output tokens at $15/MTok ≈ $0.0525 each: five fit in $0.30, a sixth does not.
    assert.equal(first.admitted, 5);
    const envelope = first.error.error as { error: { type: string; message: string } };
    assert.equal(envelope.error.type, "rate_limit_error");
    // The message says why in the meter's own numbers: this reply's estimate does not fit what is left.
    const meter = limit(await limitsOf(server, server.key), "5h");
    const cents = (usd: number) => `$${usd.toFixed(2)}`;
    assert.equal(
      envelope.error.message,
      `5-hour limit: this request needs about $0.05, ${cents(meter.remaining)} of $0.30 is left (plan pro), resets at 2026-07-06T14:17:00Z; usage credits are off for this account.`,
    );
    assert.ok(
      meter.remaining > 0 && meter.remaining < 0.0525,
      `${meter.remaining} left: less than one reply`,
    );
    assert.equal(
      first.error.headers?.get("x-should-retry"),
      "false",
      "retrying for hours only burns attempts",
    );
    assert.equal(Number(first.error.headers?.get("retry-after")), 5 * 3600);
    clock.now = firstAt + 5 * HOUR - 1;
    await assert.rejects(ask(pro, 3_500, "claude-sonnet-4-6", 3_500), Anthropic.RateLimitError);
    clock.now = firstAt + 5 * HOUR;
    assert.equal((await ask(pro, 3_500, "claude-sonnet-4-6", 3_500)).usage.output_tokens, 3_500);
    const view = await limitsOf(server, server.key);
    assert.equal(
      limit(view, "5h").resets_at,
      new Date(firstAt + 10 * HOUR).toISOString().replace(".000", ""),
    );
  });

  test("the weekly budget stops the key after enough windows", async () => {
    let windows = 1; // the test above used one full window and started a second
    for (;;) {
      clock.now += 5 * HOUR;
      const round = await untilRefused(pro);
      if (/"Weekly limit/.test(round.error.message)) break;
      windows++;
      assert.ok(windows < 10, "the weekly cap must bite");
    }
    // $1.00 a week at $0.0525 a reply is 19 replies: three full windows and a partial fourth.
    const used = await server.gateway.ledger.summary({ account: "test" });
    assert.equal(used[0]?.output_tokens, 19 * 3_500);
  });

  test("a max-5x key gets five times the budget of pro", async () => {
    const view = await limitsOf(server, max.apiKey ?? "");
    assert.equal(limit(view, "5h").limit, 5 * 0.3);
    const { admitted } = await untilRefused(max);
    assert.equal(admitted, 28, "floor($1.50 / $0.0525)");
  });
});

describe("usage credits", () => {
  const clock = { now: Date.UTC(2026, 6, 6, 9) };
  let server: TestGateway;

  before(async () => {
    server = await startTestGateway({ clock: () => clock.now });
    await applyFromAnotherProcess(server, [exactPolicy]);
  });
  after(() => server.stop());

  test("an account that opted in continues past its 5-hour limit at API prices, up to its monthly cap", async () => {
    const { key } = await server.gateway.accounts.createKey("saver", "pro");
    assert.ok(server.gateway.accounts.updateAccount("saver", { creditsCapUsd: 0.2 }));
    const client = new Anthropic({ baseURL: server.url, apiKey: key, maxRetries: 0 });
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      try {
        const { response } = await ask(client, 3_500, "claude-sonnet-4-6", 3_500).withResponse();
        outcomes.push(response.headers.get("headroom-usage-credits") === "in-use" ? "credits" : "plan");
      } catch (error) {
        assert.ok(error instanceof Anthropic.RateLimitError);
        const envelope = error.error as { error: { message: string } };
        assert.match(
          envelope.error.message,
          /^5-hour limit: .* \(plan pro\), resets at \S+; this month's usage credits are used up too\.$/,
        );
        outcomes.push("refused");
        break;
      }
    }
    // Five replies fit the $0.30 window; three more ($0.1575) fit the $0.20 of credits; the next does not.
    assert.deepEqual(outcomes, [
      "plan",
      "plan",
      "plan",
      "plan",
      "plan",
      "credits",
      "credits",
      "credits",
      "refused",
    ]);
    await server.gateway.ledger.flush();
    const events = await server.gateway.ledger.events({ account: "saver" });
    assert.equal(events.filter((event) => event.on_credits).length, 3);
  });

  test("an account that did not opt in is refused, and told that credits are off", async () => {
    const { key } = await server.gateway.accounts.createKey("plain", "pro");
    const client = new Anthropic({ baseURL: server.url, apiKey: key, maxRetries: 0 });
    for (let i = 0; i < 5; i++) await ask(client, 3_500, "claude-sonnet-4-6", 3_500);
    await assert.rejects(ask(client, 3_500, "claude-sonnet-4-6", 3_500), (error: unknown) => {
      const envelope = (error as InstanceType<typeof Anthropic.RateLimitError>).error as {
        error: { message: string };
      };
      return envelope.error.message.endsWith("; usage credits are off for this account.");
    });
  });
});

describe("dated policies: the deal doubles limits at exactly its date, with no restart", () => {
  const deal = Date.UTC(2026, 4, 6);
  const clock = { now: deal - 2 * HOUR };
  let server: TestGateway;

  before(async () => {
    server = await startTestGateway({ clock: () => clock.now });
    await applyFromAnotherProcess(server, readPolicyFile("examples/deal-policy.yaml"));
  });
  after(() => server.stop());

  test("5-hour budgets double, the peak rule goes and Opus API limits rise at D", async () => {
    const apiKey = (await server.gateway.accounts.createKey("api", "api-tier-1")).key;
    clock.now = deal - 1;
    const before = await limitsOf(server, server.key);
    assert.equal(before.policy, "2026-01-01-baseline");
    assert.equal(limit(before, "5h").limit, 1.2);
    assert.equal(limit(await limitsOf(server, apiKey, "claude-opus-4-8"), "itpm").limit, 20_000);
    clock.now = deal;
    const after = await limitsOf(server, server.key);
    assert.equal(after.policy, "2026-05-06-colossus");
    assert.equal(limit(after, "5h").limit, 2.4);
    assert.equal(limit(after, "week").limit, limit(before, "week").limit, "weekly caps unchanged");
    assert.equal(limit(await limitsOf(server, apiKey, "claude-opus-4-8"), "itpm").limit, 40_000);
  });

  test("before D, weekday mornings in Los Angeles are peak (across the daylight-saving change); after D never", async () => {
    // Monday 2 March 2026 is still PST (UTC-8); Monday 9 March is PDT (UTC-7).
    clock.now = Date.UTC(2026, 2, 2, 12, 30); // 04:30 PST
    assert.equal((await limitsOf(server, server.key)).peak, false);
    clock.now = Date.UTC(2026, 2, 2, 13, 30); // 05:30 PST
    assert.equal((await limitsOf(server, server.key)).peak, true);
    clock.now = Date.UTC(2026, 2, 9, 12, 30); // 05:30 PDT
    assert.equal((await limitsOf(server, server.key)).peak, true);
    clock.now = Date.UTC(2026, 2, 9, 18, 30); // 11:30 PDT
    assert.equal((await limitsOf(server, server.key)).peak, false);
    clock.now = Date.UTC(2026, 2, 7, 13, 30); // a Saturday
    assert.equal((await limitsOf(server, server.key)).peak, false);
    clock.now = Date.UTC(2026, 4, 11, 13, 30); // a Monday morning after the deal
    assert.equal((await limitsOf(server, server.key)).peak, false);
  });

  test("during peak the same request draws 1.5 times the usage", async () => {
    const client = new Anthropic({
      baseURL: server.url,
      apiKey: (await server.gateway.accounts.createKey("peaky", "pro")).key,
      maxRetries: 0,
    });
    const key = client.apiKey ?? "";
    clock.now = Date.UTC(2026, 2, 3, 20); // Tuesday 12:00 PST: off-peak
    const start = limit(await limitsOf(server, key), "5h").remaining;
    await ask(client, 1_000, "claude-sonnet-4-6", 1_000);
    const offPeak = start - limit(await limitsOf(server, key), "5h").remaining;
    clock.now = Date.UTC(2026, 2, 4, 14); // Wednesday 06:00 PST: peak, a new window
    const peakStart = limit(await limitsOf(server, key), "5h").remaining;
    await ask(client, 1_000, "claude-sonnet-4-6", 1_000);
    const onPeak = peakStart - limit(await limitsOf(server, key), "5h").remaining;
    assert.ok(Math.abs(onPeak - 1.5 * offPeak) < 1e-6, `peak ${onPeak} vs off-peak ${offPeak}`);
  });

  test("peak usage counts 1.5 times against the 5-hour window only: the weekly budget takes it as it is", async () => {
    const client = new Anthropic({
      baseURL: server.url,
      apiKey: (await server.gateway.accounts.createKey("peaky-week", "pro")).key,
      maxRetries: 0,
    });
    const key = client.apiKey ?? "";
    clock.now = Date.UTC(2026, 2, 11, 14); // Wednesday 07:00 PDT: peak
    const before = await limitsOf(server, key);
    await ask(client, 1_000, "claude-sonnet-4-6", 1_000);
    const after = await limitsOf(server, key);
    const session = limit(before, "5h").remaining - limit(after, "5h").remaining;
    const week = limit(before, "week").remaining - limit(after, "week").remaining;
    assert.ok(week > 0);
    assert.ok(Math.abs(session - 1.5 * week) <= 1e-6 + 0.01 * week, `5h ${session} vs week ${week}`);
  });
});

describe("streamed output is charged as produced", () => {
  const clock = { now: Date.UTC(2026, 6, 1, 12) };
  let server: TestGateway;

  before(async () => {
    server = await startTestGateway({
      clock: () => clock.now,
      plan: "api-tier-1",
      configure(config) {
        const sonnet = config.models.find((model) => model.id === "claude-sonnet-4-6");
        if (sonnet?.simulation) sonnet.simulation = { ...sonnet.simulation, decode_tokens_per_s: 300 };
      },
    });
  });
  after(() => server.stop());

  test("an API plan's answers carry the standard headers, not the subscriptions' unified family", async () => {
    const own = (await server.gateway.accounts.createKey("api-headers", "api-tier-1")).key;
    const api = await fetch(`${server.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": own, "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude-sonnet-4-6",
        max_tokens: 5,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    await api.arrayBuffer();
    assert.equal(api.status, 200);
    assert.ok(api.headers.get("anthropic-ratelimit-requests-limit"));
    assert.equal(api.headers.get("anthropic-ratelimit-unified-status"), null);
  });

  test("a completed stream is charged exactly the tokens streamed", async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    const message = await client.messages
      .stream({
        model: "claude-haiku-4-5",
        max_tokens: 1_000,
        messages: [{ role: "user", content: "sim:tokens=700" }],
      })
      .finalMessage();
    assert.equal(message.usage.output_tokens, 700);
    const view = await limitsOf(server, server.key, "claude-haiku-4-5");
    assert.equal(limit(view, "otpm").remaining, 10_000 - 700);
  });

  test("a client that disconnects mid-stream is charged only for what was produced", async () => {
    clock.now += 10 * 60_000;
    // 6,000 tokens take 20 s at 300 tokens/s: the client leaves long before the end.
    const { recorded, received } = await streamThenDisconnect(server, 6_000, 40);
    assert.equal(recorded.status, 499);
    const produced = recorded.output_tokens;
    assert.ok(produced >= received && produced < 6_000, `produced ${produced}, received ${received}`);
    const view = await limitsOf(server, server.key);
    assert.equal(limit(view, "otpm").remaining, 8_000 - produced);
  });
});
