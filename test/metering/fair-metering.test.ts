/**
 * Fair metering as a property: fast-check drives random interleavings of requests, streams,
 * client aborts, upstream failures of each kind and dated policy changes through two
 * `headroom serve` processes sharing Redis and PostgreSQL, one action at a time, and checks
 * after every one:
 * - never a 429 while the meter the caller read just before showed room for the request's
 *   estimate, and a 429's numbers are the meter's;
 * - the 5-hour window's total equals the sum of its ledger entries (explain), and both
 *   gateways show the same meter;
 * - a service failure never moves the meter — or moves it by exactly its delivered output on a
 *   plan that charges it — while a success or a client that left moves it by what it used.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { Redis } from "ioredis";
import { dollars } from "../../src/enforcement/refusal-message.ts";
import { usdToUnits } from "../../src/plans/usage-units.ts";
import { parseSse } from "../../src/protocol/sse-parser.ts";
import { startServe } from "../helpers/cli.ts";
import { type FakeUpstream, startFakeAnthropic } from "../helpers/fake-upstreams.ts";
import { type LimitView, windowsOf } from "../helpers/gateway.ts";
import { DATABASE_URL, dropSchema, inSchema, postgresSkipReason, uniqueSchema } from "../helpers/postgres.ts";
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN = "hr-admin-fair-metering-test";
/** Prices of the two classes, per million tokens. */
const PRICE = { input: 2, output: 10 };
const SONNET = { input: 3, output: 15 };
const cost = (input: number, output: number, prices = PRICE) =>
  (input * prices.input + output * prices.output) / 1e6;

const policy = (version: string, sessionUsd: number) => ({
  version,
  effective_from: new Date(Date.now() - 1_000).toISOString(),
  description: `5-hour budget $${sessionUsd}`,
  model_classes: {
    fake: { families: ["fake"], ...PRICE, cache_write: 2.5, cache_read: 0.2 },
    sonnet: { families: ["sonnet"], ...SONNET, cache_write: 3.75, cache_read: 0.3 },
  },
  plans: Object.fromEntries(
    (["none", "delivered"] as const).map((charge) => [
      `meter-${charge}`,
      {
        kind: "subscription",
        priority: 3,
        session_budget_usd: sessionUsd,
        weekly_budget_usd: 10,
        // Estimates reserve max_tokens, so the test knows every estimate's output part.
        reserve_max_tokens: true,
        charge_on_service_failure: charge,
      },
    ]),
  ),
});

type Kind = "ok" | "stream" | "abort" | "500" | "529" | "reset" | "cut" | "malformed";
type Action =
  | { gateway: 0 | 1; kind: Kind; maxTokens: number }
  | { gateway: 0 | 1; kind: "policy"; sessionUsd: number };

const MODEL: Record<Kind, string> = {
  ok: "fake",
  stream: "fake",
  abort: "claude-sonnet-4-6",
  "500": "fake-500",
  "529": "fake-529",
  reset: "fake-reset",
  cut: "fake-cut",
  malformed: "fake-malformed",
};
const STREAMED = new Set<Kind>(["stream", "abort", "529", "cut", "malformed"]);

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.record({
      gateway: fc.constantFrom(0 as const, 1 as const),
      kind: fc.constantFrom<Kind>("ok", "ok", "stream", "abort", "500", "529", "reset", "cut", "malformed"),
      maxTokens: fc.integer({ min: 20, max: 400 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      gateway: fc.constantFrom(0 as const, 1 as const),
      kind: fc.constant("policy" as const),
      sessionUsd: fc.constantFrom(0.004, 0.008, 0.015),
    }),
  },
);

const skip = (await postgresSkipReason()) ?? (await redisSkipReason());

describe("fair metering across two gateways (property)", { skip }, () => {
  let upstream: FakeUpstream;
  let dir: string;
  const schema = uniqueSchema("metering");
  const prefix = uniquePrefix("metering");
  const children: ChildProcess[] = [];
  const urls: string[] = [];
  let versions = 0;

  const admin = async (url: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    assert.ok(response.status < 300, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };

  before(async () => {
    upstream = await startFakeAnthropic();
    dir = mkdtempSync(join(tmpdir(), "headroom-metering-"));
    writeFileSync(
      join(dir, "config.yaml"),
      [
        "server: { log_level: warn }",
        "upstreams:",
        `  fake: { type: anthropic, url: "${upstream.url}", timeout_ms: 30000 }`,
        "models:",
        "  - { id: fake, display_name: fake, created_at: 2026-01-01T00:00:00Z, family: fake, upstream: fake }",
        "  - id: claude-sonnet-4-6",
        "    display_name: Claude Sonnet 4.6",
        "    created_at: 2026-02-01T00:00:00Z",
        "    family: sonnet",
        "    upstream: simulated",
        "    simulation: { decode_tokens_per_s: 200, ttft_ms: 0 }",
        "routes:",
        "  - { match: fake-*, model: fake }",
      ].join("\n"),
    );
    const env = {
      DATABASE_URL,
      HEADROOM_DATABASE_SCHEMA: schema,
      REDIS_URL,
      HEADROOM_REDIS_PREFIX: prefix,
      HEADROOM_KEY_SECRET: "fair-metering-test-secret-shared-by-both",
      HEADROOM_ADMIN_TOKEN: ADMIN,
    };
    for (const n of [0, 1]) {
      const started = await startServe(
        ["--port", "0", "--config", join(dir, "config.yaml"), "--data-dir", join(dir, `data-${n}`)],
        { env },
      );
      children.push(started.child);
      urls.push(started.url);
    }
    await applyPolicy(0.008);
  });

  after(async () => {
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(children.map((child) => once(child, "exit")));
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
    const client = new Redis(REDIS_URL);
    await deletePrefix(client, prefix);
    client.disconnect();
  });

  /** A new dated policy in force now, seen by both gateways before the next action. */
  async function applyPolicy(sessionUsd: number): Promise<string> {
    const version = `metering-${++versions}`;
    await admin(urls[0] as string, "POST", "/policies", policy(version, sessionUsd));
    for (const url of urls) {
      for (;;) {
        const { in_force } = (await admin(url, "GET", "/policies")) as { in_force: string };
        if (in_force === version) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return version;
  }

  const meter = async (url: string, key: string): Promise<LimitView> =>
    (await windowsOf(url, key, "fake"))["5h"] as LimitView;

  /** One request as a client would make it; its status, and a 429's message. */
  async function request(url: string, key: string, kind: Kind, maxTokens: number) {
    const controller = new AbortController();
    const response = await fetch(`${url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      signal: controller.signal,
      body: JSON.stringify({
        model: MODEL[kind],
        max_tokens: maxTokens,
        stream: STREAMED.has(kind),
        messages: [{ role: "user", content: kind === "abort" ? `sim:tokens=${maxTokens}` : "hi" }],
      }),
    });
    const requestId = response.headers.get("request-id") ?? "";
    if (response.status === 429)
      return {
        status: 429,
        requestId,
        message: ((await response.json()) as { error: { message: string } }).error.message,
      };
    if (kind === "abort" && response.status === 200) {
      try {
        for await (const event of parseSse(response.body as AsyncIterable<Uint8Array>))
          if (event.event === "content_block_delta") controller.abort();
      } catch {
        // our own abort
      }
      return { status: 499, requestId, message: "" };
    }
    await response.arrayBuffer();
    return { status: response.status, requestId, message: "" };
  }

  test("never a 429 with room on the meter; windows equal their entries; failures move nothing but delivered output", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(action, { minLength: 3, maxLength: 12 }),
        async (delivered, actions) => {
          const plan = `meter-${delivered ? "delivered" : "none"}`;
          const account = `acct-${++run}`;
          const created = (await admin(urls[0] as string, "POST", "/keys", { account, plan })) as {
            key: string;
            id: string;
          };
          for (const step of actions) {
            const url = urls[step.gateway] as string;
            if (step.kind === "policy") {
              await applyPolicy(step.sessionUsd);
              continue;
            }
            const before = await meter(url, created.key);
            const outcome = await request(url, created.key, step.kind, step.maxTokens);
            // The gateway has let go of the request once its ledger row exists.
            const explained = async () =>
              (await admin(url, "GET", `/usage/explain?key=${created.id}&window=5h`)) as {
                used_usd: number;
                limit_usd: number;
                entries: Array<{
                  request_id: string;
                  status: number;
                  charged_usd: number;
                  output_tokens: number;
                  billing: string;
                }>;
              };
            // The request is over once its ledger row exists (read as an operator's psql would).
            const row =
              outcome.status === 429
                ? undefined
                : await waitFor(
                    async () =>
                      (
                        await inSchema<{ status: number; output_tokens: string; billing: string }>(
                          schema,
                          "select status, output_tokens, billing from usage_events where request_id = $1",
                          [outcome.requestId],
                        )
                      )[0],
                    `the ledger row of ${outcome.requestId}`,
                  );
            const explanation = await explained();
            const afterwards = await meter(url, created.key);
            const other = await meter(urls[1 - step.gateway] as string, created.key);
            assert.deepEqual(other, afterwards, "both gateways show the same meter");

            // Refusals: only when the meter read just before could not hold the estimate.
            const prices = step.kind === "abort" ? SONNET : PRICE;
            const estimateAtLeast = cost(0, step.maxTokens, prices);
            const estimateAtMost = cost(100, step.maxTokens, prices);
            if (outcome.status === 429) {
              assert.ok(
                before.remaining < estimateAtMost,
                `429 with $${before.remaining} left for ~$${estimateAtLeast}`,
              );
              const left = `${dollars(usdToUnits(before.remaining))} of ${dollars(usdToUnits(before.limit))}`;
              const used = `${dollars(usdToUnits(before.limit - before.remaining))} of ${dollars(usdToUnits(before.limit))} used`;
              const whole = `more than the whole ${dollars(usdToUnits(before.limit))}`;
              assert.ok(
                outcome.message.includes(`${left} is left`) ||
                  (before.remaining === 0 && outcome.message.includes(used)) ||
                  (estimateAtLeast > before.limit && outcome.message.includes(whole)),
                `the message's numbers are the meter's: "${outcome.message}" against ${JSON.stringify(before)}`,
              );
              assert.deepEqual(afterwards, before, "a refusal consumes nothing");
              continue;
            }
            assert.ok(
              before.remaining >= estimateAtLeast,
              `admitted with only $${before.remaining} for ~$${estimateAtLeast}`,
            );

            // The window's total is the sum of its entries, and the meter shows that total.
            const sum = explanation.entries.reduce((total, entry) => total + entry.charged_usd, 0);
            assert.ok(
              Math.abs(sum - explanation.used_usd) < 1e-9,
              "window total = sum of its ledger entries",
            );
            if (afterwards.remaining > 0)
              assert.ok(
                Math.abs(afterwards.limit - afterwards.remaining - explanation.used_usd) < 1e-9,
                `meter $${afterwards.limit - afterwards.remaining} against ledger $${explanation.used_usd}`,
              );

            // What it moved the meter by: a failure nothing (or its delivered output), anything else its charge.
            assert.ok(row, "the request has its ledger row");
            const moved = before.remaining - afterwards.remaining;
            const entry = explanation.entries.find((candidate) => candidate.request_id === outcome.requestId);
            if (row.status >= 500) {
              const expected = delivered ? cost(0, Number(row.output_tokens), prices) : 0;
              assert.equal(row.billing, delivered ? "delivered" : "none");
              if (afterwards.remaining > 0)
                assert.ok(Math.abs(moved - expected) < 1e-9, `a ${step.kind} moved the meter $${moved}`);
            } else {
              assert.equal(row.billing, "full");
              assert.ok(entry, "a charged request is an entry of the window");
              if (afterwards.remaining > 0)
                assert.ok(
                  Math.abs(moved - entry.charged_usd) < 1e-9,
                  `a ${step.kind} moved the meter by its charge`,
                );
            }
          }
        },
      ),
      { numRuns: 40, seed: 20261201, endOnFailure: true },
    );
  });
});
