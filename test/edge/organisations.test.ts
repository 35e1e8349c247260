import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { Redis } from "ioredis";
import OpenAI from "openai";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from "../helpers/redis.ts";

const skipRedis = await redisSkipReason();

/** The outcome of one small request: "ok", or the 429's message. */
async function ask(client: Anthropic, output = 5): Promise<string> {
  try {
    await client.messages.create({
      model: "claude-haiku-4-5",
      max_tokens: output,
      messages: [{ role: "user", content: `sim:tokens=${output}` }],
    });
    return "ok";
  } catch (error) {
    if (error instanceof Anthropic.RateLimitError)
      return (error.error as { error?: { message?: string } } | undefined)?.error?.message ?? error.message;
    throw error;
  }
}

/** Organisations, teams and per-key limits on one gateway, its limits in memory or in Redis. */
function describeLevels(store: "memory" | "Redis", skip?: string) {
  describe(`organisation, team and key limits (${store})`, { skip }, () => {
    const clock = { now: Date.UTC(2026, 6, 1, 12) };
    const prefix = uniquePrefix("levels");
    let server: TestGateway;
    const client = (key: string) => new Anthropic({ baseURL: server.url, apiKey: key, maxRetries: 0 });
    const keys: Record<string, string> = {};

    before(async () => {
      server = await startTestGateway({
        clock: () => clock.now,
        env: store === "Redis" ? { REDIS_URL, HEADROOM_REDIS_PREFIX: prefix } : {},
      });
      const { accounts } = server.gateway;
      await accounts.createOrganisation("acme", {});
      await accounts.createTeam("infra", "acme", { requests_per_minute: 3 });
      await accounts.createTeam("ops", "acme", { requests_per_minute: 3 });
      await accounts.createOrganisation("tiny", { monthly_budget_usd: 0.001 });
      await accounts.createTeam("lab", "tiny", {});
      await accounts.createOrganisation("big", { monthly_budget_usd: 1000, concurrency: 50 });
      await accounts.createTeam("count", "big", {
        requests_per_minute: 100,
        output_tokens_per_minute: 10_000,
      });
      await accounts.createOrganisation("tiered", { plan: "api-tier-1" });
      await accounts.createTeam("tier-team", "tiered", {});
      for (const [account, team] of [
        ["alice", "infra"],
        ["bob", "infra"],
        ["carol", null],
        ["dave", "lab"],
        ["frank", "ops"],
        ["gina", "count"],
        ["hal", "tier-team"],
        ["ivy", "tier-team"],
      ] as const) {
        keys[account] = (await accounts.createKey(account, "api-tier-4")).key;
        if (team) assert.equal(await accounts.setAccountTeam(account, team), true);
      }
    });
    after(async () => {
      await server.stop();
      if (store === "Redis") {
        const admin = new Redis(REDIS_URL);
        await deletePrefix(admin, prefix);
        admin.disconnect();
      }
    });

    test("a team's rate is shared by its accounts, and the 429 names the team", async () => {
      const [alice, bob, carol] = [
        client(keys.alice as string),
        client(keys.bob as string),
        client(keys.carol as string),
      ];
      assert.deepEqual([await ask(alice), await ask(alice), await ask(bob)], ["ok", "ok", "ok"]);
      const refused = await ask(bob);
      assert.match(
        refused,
        /^Rate limit of 3 requests per minute exceeded \(team infra\); retry after \d+ s\.$/,
      );
      assert.match(await ask(alice), /\(team infra\)/, "the whole team waits");
      assert.equal(await ask(carol), "ok", "an account outside the team is not held back");
      // Redis keeps its own time (so gateways agree); only the memory store follows the test clock.
      if (store === "memory") {
        clock.now += 60_000;
        assert.equal(await ask(bob), "ok", "a minute later the team has room again");
      }
    });

    test("an organisation's monthly spend stops every team in it, and says so in dollars", async () => {
      const dave = client(keys.dave as string);
      // $0.001 at Haiku's prices ($1/MTok in, $5/MTok out) is 200 output tokens and a few inputs.
      assert.equal(await ask(dave, 150), "ok");
      assert.equal(await ask(dave, 40), "ok", "≈$0.00097 spent: the organisation has a little left");
      const refused = await ask(dave, 10);
      assert.match(
        refused,
        /^Organisation spend limit \(monthly\): this request needs about \$0\.0000\d+, \$0\.0000\d+ of \$0\.001 is left \(organisation tiny\), resets at /,
      );
      if (store === "memory") assert.match(refused, /resets at 2026-08-01T00:00:00Z\.$/);
      // Answered as Anthropic answers a used-up spend cap: its error code, and no retry-after
      // (usage resumes at the period's start; retries before it cannot succeed).
      const raw = await fetch(`${server.url}/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": keys.dave as string, "content-type": "application/json" },
        body: JSON.stringify({
          model: "claude-haiku-4-5",
          max_tokens: 10,
          messages: [{ role: "user", content: "hi" }],
        }),
      });
      assert.equal(raw.status, 429);
      assert.equal(raw.headers.get("retry-after"), null);
      assert.equal(raw.headers.get("retry-after-ms"), null);
      assert.equal(raw.headers.get("x-should-retry"), "false");
      const body = (await raw.json()) as { error: { type: string; details?: { error_code?: string } } };
      assert.equal(body.error.type, "rate_limit_error");
      assert.equal(body.error.details?.error_code, "enforced_spend_limit_reached");
      // The same key's OpenAI endpoint: OpenAI's code for a used-up quota.
      const openai = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${keys.dave as string}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "claude-haiku-4-5",
          max_tokens: 10,
          messages: [{ role: "user", content: "hi" }],
        }),
      });
      assert.equal(openai.status, 429);
      assert.equal(openai.headers.get("retry-after"), null);
      assert.equal(((await openai.json()) as { error: { code: string } }).error.code, "insufficient_quota");
    });

    test("a rate refusal keeps its retry-after and carries no spend-cap code", async () => {
      const [alice] = [client(keys.alice as string)];
      let refusedRaw: Response | undefined;
      for (let i = 0; i < 5 && !refusedRaw; i++) {
        const raw = await fetch(`${server.url}/v1/messages`, {
          method: "POST",
          headers: { "x-api-key": alice.apiKey ?? "", "content-type": "application/json" },
          body: JSON.stringify({
            model: "claude-haiku-4-5",
            max_tokens: 5,
            messages: [{ role: "user", content: "hi" }],
          }),
        });
        if (raw.status === 429) refusedRaw = raw;
        else await raw.arrayBuffer();
      }
      assert.ok(refusedRaw, "the team's 3 requests a minute refuse within 5");
      assert.ok(Number(refusedRaw.headers.get("retry-after")) > 0);
      const body = (await refusedRaw.json()) as { error: { details?: unknown } };
      assert.equal(body.error.details, undefined);
    });

    test("a key can be held to less than its account's plan; the account's other keys are not", async () => {
      const { accounts } = server.gateway;
      const narrow = await accounts.createKey("erin", "api-tier-4");
      const wide = await accounts.createKey("erin", undefined);
      await accounts.setLimits("key", narrow.id, { requests_per_minute: 2 });
      clock.now += 5_000; // past the identity cache's second, as a running gateway would be
      const [narrowClient, wideClient] = [client(narrow.key), client(wide.key)];
      assert.deepEqual([await ask(narrowClient), await ask(narrowClient)], ["ok", "ok"]);
      assert.match(await ask(narrowClient), new RegExp(`\\(key ${narrow.id}\\); retry after`));
      assert.equal(await ask(wideClient), "ok");
    });

    test("a request with plan, team and organisation limits is one limiter decision (one script call on Redis)", async () => {
      const limiter = server.gateway.limiter;
      const original = limiter.check.bind(limiter);
      let checks = 0;
      limiter.check = (request) => {
        checks++;
        return original(request);
      };
      try {
        assert.equal(await ask(client(keys.carol as string)), "ok");
        const before = checks;
        assert.equal(await ask(client(keys.gina as string)), "ok");
        // Memory decides synchronously (checkSync), so only Redis shows here.
        if (store === "Redis") assert.equal(checks - before, 1);
      } finally {
        limiter.check = original;
      }
    });

    // api-tier-1: 50 requests a minute for the whole organisation; each member alone is on
    // api-tier-4. The memory store runs on the test's clock, so the 51st is an exact refusal.
    // Redis refills the bucket by its own clock (one request per 1.2 s) while the requests take
    // real time, so there the admitted count is bounded by the time the run took, not fixed.
    test("an organisation on a plan shares that plan's limits among its members", async () => {
      const [hal, ivy] = [client(keys.hal as string), client(keys.ivy as string)];
      const refusal =
        /^Rate limit of 50 requests per minute exceeded \(organisation tiered, plan api-tier-1\); retry after \d+ s\.$/;
      if (store === "memory") {
        for (let i = 0; i < 25; i++) {
          assert.equal(await ask(hal, 1), "ok");
          assert.equal(await ask(ivy, 1), "ok");
        }
        assert.match(await ask(hal, 1), refusal);
        return;
      }
      // Refills happen on Redis's clock (the script reads TIME), so the bound is counted on it too:
      // a slow or busy machine stretches the loop, and the bound with it, never the other way.
      const redis = new Redis(REDIS_URL);
      const redisNowMs = async () => {
        const [seconds, micros] = await redis.time();
        return Number(seconds) * 1000 + Number(micros) / 1000;
      };
      const started = await redisNowMs();
      let admitted = 0;
      let refused: string | undefined;
      // Four from each member at a time stays under the plan's concurrency of 10.
      while (refused === undefined) {
        const outcomes = await Promise.all([hal, hal, hal, hal, ivy, ivy, ivy, ivy].map((c) => ask(c, 1)));
        admitted += outcomes.filter((o) => o === "ok").length;
        refused = outcomes.find((o) => o !== "ok");
        assert.ok(admitted <= 200, "the organisation's 50 per minute never refused anything");
      }
      const refills = Math.floor(((await redisNowMs()) - started) / 1200) + 1;
      redis.disconnect();
      assert.match(refused, refusal);
      assert.ok(admitted >= 50, `only ${admitted} admitted before the first refusal`);
      assert.ok(admitted <= 50 + refills, `${admitted} admitted, more than 50 + ${refills} refills`);
    });

    test("the OpenAI endpoints name the level too", async () => {
      const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: keys.frank as string, maxRetries: 0 });
      for (let i = 0; i < 3; i++)
        await openai.responses.create({ model: "claude-haiku-4-5", input: "sim:tokens=1" });
      await assert.rejects(
        openai.chat.completions.create({
          model: "claude-haiku-4-5",
          messages: [{ role: "user", content: "x" }],
        }),
        (error: unknown) => error instanceof OpenAI.RateLimitError && /\(team ops\)/.test(error.message),
      );
    });
  });
}

describeLevels("memory");
describeLevels("Redis", skipRedis);
