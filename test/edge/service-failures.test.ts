/**
 * Nobody pays for the service's failures: each kind of failure, reached through the official
 * SDK or a plain client, is recorded in the ledger with its tokens and reason but leaves the
 * caller's window where it was — unless the plan charges delivered output, when it moves by
 * exactly that. A client that leaves pays for what it was sent.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import type { UsageEvent } from "../../src/ledger/usage-event.ts";
import { classFor } from "../../src/plans/plan-limits.ts";
import { type Policy, policySchema } from "../../src/plans/schema.ts";
import { UNITS_PER_USD, unitPrices, usageUnits } from "../../src/plans/usage-units.ts";
import { runCli } from "../helpers/cli.ts";
import { type FakeUpstream, startFakeAnthropic } from "../helpers/fake-upstreams.ts";
import {
  catalogModel,
  httpUpstream,
  recordedUsage,
  startTestGateway,
  streamThenDisconnect,
  type TestGateway,
  windowsOf,
} from "../helpers/gateway.ts";

const policy: Policy = policySchema.parse({
  version: "service-failures",
  effective_from: "2026-01-01T00:00:00Z",
  description: "one class for the fake upstream, one for the simulated pool",
  model_classes: {
    fake: { families: ["fake"], input: 2, output: 10, cache_write: 2.5, cache_read: 0.2 },
    sonnet: { families: ["sonnet"], input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  },
  plans: {
    pro: { kind: "subscription", priority: 3, session_budget_usd: 5, weekly_budget_usd: 50 },
    "pro-delivered": {
      kind: "subscription",
      priority: 3,
      session_budget_usd: 5,
      weekly_budget_usd: 50,
      charge_on_service_failure: "delivered",
    },
  },
});

/** What usage costs in the fake class, in dollars. */
const costOf = (usage: Partial<UsageEvent>) =>
  usageUnits(unitPrices(classFor(policy, "fake")[1]), {
    input_tokens: 0,
    output_tokens: 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    ...usage,
  }) / UNITS_PER_USD;

describe("no charge for the service's failures", () => {
  let upstream: FakeUpstream;
  let server: TestGateway;
  let deliveredKey: string;
  // An hour ago, held still: the CLI (a separate process, on the real clock) sees every row.
  const clock = { now: Date.now() - 3_600_000 };

  before(async () => {
    upstream = await startFakeAnthropic();
    server = await startTestGateway({
      clock: () => clock.now,
      configure(config) {
        config.upstreams.fake = httpUpstream({ type: "anthropic", url: upstream.url, timeout_ms: 30_000 });
        config.upstreams.hung = httpUpstream({ type: "anthropic", url: upstream.url, timeout_ms: 300 });
        config.models.push(
          catalogModel("fake", { upstream: "fake" }),
          catalogModel("hung-slow", { upstream: "hung", upstream_model: "fake-slow" }),
        );
        config.routes.unshift({ match: "fake-*", model: "fake" });
      },
    });
    await server.gateway.stores.policies.applyAll([policy]);
    await server.gateway.policies.refresh();
    deliveredKey = (await server.gateway.accounts.createKey("delivered", "pro-delivered")).key;
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  const session = async (key = server.key) =>
    (await windowsOf(server, key, "fake"))["5h"]?.remaining ?? Number.NaN;

  /** One request; the ledger row it left. */
  async function failOnce(model: string, stream: boolean, key = server.key): Promise<UsageEvent> {
    // Through the official SDK, as a client would see each failure; maxRetries 0 so each
    // request is one ledger row.
    const client = new Anthropic({ baseURL: server.url, apiKey: key, maxRetries: 0 });
    let requestId: string | null = null;
    try {
      const params = { model, max_tokens: 200, messages: [{ role: "user" as const, content: "hello" }] };
      if (stream) {
        const { data, response } = await client.messages.create({ ...params, stream: true }).withResponse();
        requestId = response.headers.get("request-id");
        for await (const _event of data) {
          // to the end: an SSE error event becomes an exception here
        }
      } else {
        const { response } = await client.messages.create(params).withResponse();
        requestId = response.headers.get("request-id");
      }
    } catch (error) {
      if (!(error instanceof Anthropic.APIError)) throw error;
      requestId ??= error.requestID ?? error.headers?.get("request-id") ?? null;
    }
    return recordedUsage(server, requestId, key === server.key ? "test" : "delivered");
  }

  const failures: Array<{ kind: string; model: string; stream: boolean; status: number }> = [
    { kind: "an upstream 500", model: "fake-500", stream: false, status: 502 },
    { kind: "an upstream 529", model: "fake-529", stream: true, status: 529 },
    { kind: "a connection reset", model: "fake-reset", stream: false, status: 502 },
    { kind: "an upstream timeout", model: "hung-slow", stream: false, status: 504 },
    { kind: "a malformed event", model: "fake-malformed", stream: true, status: 502 },
    { kind: "a stream the upstream cut", model: "fake-cut", stream: true, status: 502 },
  ];

  for (const failure of failures) {
    test(`${failure.kind}: recorded with its reason, the window unmoved`, async () => {
      // A successful request first, so the window is running and the comparison means something.
      assert.equal((await failOnce("fake", false)).billing, "full");
      const before = await session();
      const row = await failOnce(failure.model, failure.stream);
      assert.equal(row.status, failure.status);
      assert.ok(row.error_type, "the reason is recorded");
      assert.equal(row.billing, "none");
      assert.equal(await session(), before, "the 5-hour window did not move");
    });
  }

  test("the cut stream's tokens are in the ledger even though they were not charged", async () => {
    const row = await failOnce("fake-cut", true);
    assert.equal(row.input_tokens, 11);
    assert.ok(row.output_tokens > 0);
    assert.equal(row.billing, "none");
  });

  test("a plan charging delivered output pays exactly the output delivered before the cut", async () => {
    await failOnce("fake", false, deliveredKey);
    const before = await session(deliveredKey);
    const row = await failOnce("fake-cut", true, deliveredKey);
    assert.equal(row.billing, "delivered");
    const moved = before - (await session(deliveredKey));
    assert.ok(Math.abs(moved - costOf({ output_tokens: row.output_tokens })) < 1e-12, `moved $${moved}`);
    assert.ok(
      moved < costOf({ input_tokens: row.input_tokens, output_tokens: row.output_tokens }),
      "input is not charged",
    );
    // The same plan pays nothing for a failure that delivered nothing.
    const still = await session(deliveredKey);
    await failOnce("fake-500", false, deliveredKey);
    assert.equal(await session(deliveredKey), still);
  });

  test("a success is charged in full, and a client that leaves pays for what it was sent", async () => {
    const before = await session();
    const row = await failOnce("fake", false);
    assert.equal(row.billing, "full");
    const moved = before - (await session());
    assert.ok(
      Math.abs(moved - costOf(row)) < 1e-12,
      `a success moves the window by its whole cost ($${moved} against $${costOf(row)})`,
    );
    // A client that leaves mid-stream (simulated pool, slow enough to leave in the middle).
    const start = await session();
    const { recorded } = await streamThenDisconnect(server, 5_000, 20);
    assert.equal(recorded.status, 499);
    assert.equal(recorded.billing, "full");
    assert.ok(
      recorded.output_tokens >= 20 && recorded.output_tokens < 5_000,
      `${recorded.output_tokens} tokens sent`,
    );
    assert.ok((await session()) < start, "what it was sent is charged");
  });

  test("the SDK sees each failure as an error, and the usage report bills none of them", async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    await assert.rejects(
      client.messages.create({
        model: "fake-500",
        max_tokens: 10,
        messages: [{ role: "user", content: "x" }],
      }),
      Anthropic.InternalServerError,
    );
    const rows = await server.gateway.ledger.events({ account: "test", limit: 1000 });
    const failed = rows.filter((row) => row.status >= 500);
    assert.ok(failed.length >= failures.length);
    assert.ok(failed.every((row) => row.billing === "none"));
  });

  test("explain lists the entries behind the window, refunds and reasons included; they add up to the meter", async () => {
    const keyId = (await server.gateway.accounts.listKeys("test"))[0]?.id as string;
    const response = await fetch(`${server.url}/admin/v1/usage/explain?key=${keyId}&window=5h`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    });
    assert.equal(response.status, 200);
    const explained = (await response.json()) as {
      used_usd: number;
      limit_usd: number;
      entries: Array<{
        request_id: string;
        billing: string;
        charged_usd: number;
        refunded_usd: number;
        reason: string | null;
        status: number;
      }>;
    };
    const rows = (await server.gateway.ledger.events({ account: "test", limit: 1000 })).filter(
      (row) => row.model !== null,
    );
    assert.deepEqual(
      new Set(explained.entries.map((entry) => entry.request_id)),
      new Set(rows.map((row) => row.request_id)),
      "every ledger row of the window, and nothing else",
    );
    const failed = explained.entries.filter((entry) => entry.status >= 500);
    assert.ok(failed.length >= failures.length);
    for (const entry of failed) {
      assert.equal(entry.billing, "none");
      assert.equal(entry.charged_usd, 0);
      assert.ok(entry.reason, "each refund says why");
    }
    assert.ok(
      failed.some((entry) => entry.refunded_usd > 0),
      "the cut stream's tokens show as refunded",
    );
    const sum = explained.entries.reduce((total, entry) => total + entry.charged_usd, 0);
    assert.ok(Math.abs(sum - explained.used_usd) < 1e-9, "the entries add up to the window's total");
    const meter = (await windowsOf(server, server.key, "fake"))["5h"];
    assert.ok(
      meter && Math.abs(meter.limit - meter.remaining - explained.used_usd) < 1e-9,
      "and to the meter the caller reads",
    );

    // The same from the CLI, as support would run it, with a config that knows the same models.
    const config = join(server.dataDir, "support.yaml");
    writeFileSync(
      config,
      [
        "upstreams:",
        `  fake: { type: anthropic, url: "${upstream.url}" }`,
        "models:",
        "  - { id: fake, display_name: fake, created_at: 2026-01-01T00:00:00Z, family: fake, upstream: fake }",
        "  - { id: hung-slow, display_name: hung, created_at: 2026-01-01T00:00:00Z, family: fake, upstream: fake }",
        "routes:",
        "  - { match: fake-*, model: fake }",
      ].join("\n"),
    );
    const support = ["--data-dir", server.dataDir, "--config", config];
    const cli = await runCli(["usage", "--explain", "--key", keyId, "--window", "5h", ...support]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^5h window of account test \(plan pro\): \$\S+ of \$5\.00 used, started /);
    assert.match(cli.stdout, /fake-cut .* 502 +api_error \(service failure: not charged\)/);
    assert.match(
      cli.stdout,
      new RegExp(
        `${explained.entries.length} entries, ${explained.entries.filter((entry) => entry.refunded_usd > 0).length} refunded`,
      ),
    );
    const json = await runCli(["usage", "--explain", "--key", keyId, "--json", ...support]);
    assert.deepEqual(JSON.parse(json.stdout).entries, explained.entries);
  });
});
