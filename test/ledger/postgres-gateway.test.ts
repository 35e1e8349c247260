/**
 * The gateway on PostgreSQL: a complete response's row is in the database before its last byte;
 * windows survive a restart; and while PostgreSQL is away the gateway keeps serving, buffers
 * the usage (shown in /metrics), and writes every row once it is back.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { scrapeMetrics, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { DATABASE_URL, dropSchema, inSchema, postgresSkipReason, uniqueSchema } from "../helpers/postgres.ts";
import { type FreezableProxy, startFreezableProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait.ts";

const skip = await postgresSkipReason();

const ask = (server: TestGateway, tokens: number, stream = false) => {
  const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
  const body = {
    model: "claude-sonnet-4-6",
    max_tokens: 4_000,
    messages: [{ role: "user" as const, content: `sim:tokens=${tokens}` }],
  };
  if (!stream) return client.messages.create(body).withResponse();
  return client.messages.stream(body).withResponse();
};

describe("the gateway on PostgreSQL", { skip }, () => {
  const schema = uniqueSchema("gateway");
  const env = { DATABASE_URL, HEADROOM_DATABASE_SCHEMA: schema };
  const servers: TestGateway[] = [];
  after(async () => {
    for (const server of servers) await server.close();
    await dropSchema(schema);
  });

  test("a complete response is already in PostgreSQL; windows come back after a restart", async () => {
    const clock = { now: Date.UTC(2026, 6, 4, 12) };
    const first = await startTestGateway({ env, clock: () => clock.now });
    servers.push(first);
    const { response } = await ask(first, 300);
    const requestId = response.headers.get("request-id");
    const rows = await inSchema<{ output_tokens: number }>(
      schema,
      "select output_tokens::int from usage_events where request_id = $1",
      [requestId],
    );
    assert.deepEqual(rows, [{ output_tokens: 300 }]);
    const limits = async (server: TestGateway) =>
      (await (
        await fetch(`${server.url}/v1/headroom/limits`, { headers: { "x-api-key": server.key } })
      ).json()) as { limits: Array<{ name: string; remaining: number; resets_at: string }> };
    const before = await limits(first);
    await first.close();

    const second = await startTestGateway({
      env,
      clock: () => clock.now,
      restart: { dataDir: first.dataDir, key: first.key },
    });
    servers.push(second);
    assert.deepEqual((await limits(second)).limits, before.limits);
  });
});

describe("PostgreSQL goes away under load and comes back", { skip }, () => {
  const db = behindProxy("outage", { HEADROOM_LEDGER_BUFFER: "30" });

  test("serving goes on, usage waits in a bounded buffer, and every row is written after", async () => {
    const { schema, proxy, server } = db;
    const served: string[] = [];
    const take = async (stream: boolean) => {
      const pending = server.gateway.ledger.pending;
      const { response } = await ask(server, 20, stream).catch((error: unknown) => {
        throw new Error(`request ${served.length + 1} failed with ${pending} events pending`, {
          cause: error,
        });
      });
      served.push(response.headers.get("request-id") ?? "");
    };
    for (let i = 0; i < 4; i++) await take(i % 2 === 0);
    // The rows before the outage are all written, so the buffer holds only the outage's.
    await waitFor(() => server.gateway.ledger.pending === 0, "the rows before the outage to be written");

    proxy.down();
    // Every request during the outage is served (JSON and streams), its row kept in memory.
    for (let i = 0; i < 20; i++) await take(i % 2 === 0);
    assert.ok(server.gateway.ledger.pending > 0, "events wait in the buffer");
    const metrics = await scrapeMetrics(server);
    const buffered = Number(/^headroom_ledger_buffered_events (\d+)/m.exec(metrics)?.[1]);
    assert.ok(buffered > 0, `the metric shows the buffer (${buffered})`);

    // A full buffer refuses new work (503, retry-after) instead of serving what it could not record.
    for (let i = 0; i < 10; i++) await take(false);
    assert.equal(server.gateway.ledger.pending, 30);
    const refused = await ask(server, 20).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof Anthropic.APIError && refused.status === 503, String(refused));
    assert.match(refused.message, /Usage cannot be recorded right now/);

    proxy.up();
    await waitFor(
      () => server.gateway.ledger.pending === 0,
      "the buffer to be written after PostgreSQL is back",
    );
    const rows = await inSchema<{ request_id: string }>(schema, "select request_id from usage_events");
    const stored = new Set(rows.map((row) => row.request_id));
    assert.equal(rows.length, stored.size, "no row twice");
    const missing = served.map((id, i) => [i, id] as const).filter(([, id]) => !stored.has(id));
    assert.deepEqual(missing, [], `${rows.length} rows for ${served.length} served`);
    assert.equal(rows.length, served.length);
  });
});

describe("PostgreSQL restarts while requests are in flight", { skip }, () => {
  const db = behindProxy("restart");

  test("every connection reset mid-load: each answered request keeps its row, none twice, and serving recovers", async () => {
    const { schema, proxy, server } = db;
    const answered: string[] = [];
    const failed: unknown[] = [];
    const one = (i: number) =>
      ask(server, 200, i % 2 === 0).then(
        async ({ response, data }) => {
          // A stream's rows are promised by its last event: read it to the end.
          if (data && typeof (data as { finalMessage?: unknown }).finalMessage === "function")
            await (data as { finalMessage(): Promise<unknown> }).finalMessage();
          answered.push(response.headers.get("request-id") ?? "");
        },
        (error: unknown) => {
          failed.push(error);
        },
      );
    const load = Array.from({ length: 30 }, (_, i) => one(i));
    // Mid-load: as soon as some rows are being written, every connection is reset and new ones
    // are refused, as when the server restarts; it is back shortly after.
    await waitFor(() => answered.length >= 5, "the first answers");
    proxy.down();
    const during = Array.from({ length: 10 }, (_, i) => one(100 + i));
    await new Promise((resolve) => setImmediate(resolve));
    proxy.up();
    await Promise.all([...load, ...during]);
    const after = Array.from({ length: 5 }, (_, i) => one(200 + i));
    await Promise.all(after);
    // Serving recovers without a restart: the requests after the restart are answered.
    assert.ok(
      answered.length >= 40,
      `${answered.length} answered, ${failed.length} failed: ${failed.map(String).join("; ")}`,
    );
    await waitFor(() => server.gateway.ledger.pending === 0, "the buffered rows to be written");
    const rows = await inSchema<{ request_id: string }>(schema, "select request_id from usage_events");
    const stored = new Set(rows.map((row) => row.request_id));
    assert.equal(rows.length, stored.size, "no row twice");
    assert.deepEqual(
      answered.filter((id) => !stored.has(id)),
      [],
      "every answered request has its row",
    );
  });
});

/**
 * A gateway whose PostgreSQL is reached through a proxy the test can take down, in a schema of
 * its own, set up before the suite's tests and taken down after them (the proxy back up first,
 * should a test have failed mid-outage: closing flushes the buffer).
 */
function behindProxy(name: string, env: NodeJS.ProcessEnv = {}) {
  const schema = uniqueSchema(name);
  const parts = {
    schema,
    get proxy() {
      return proxy;
    },
    get server() {
      return server;
    },
  };
  let proxy: FreezableProxy;
  let server: TestGateway;
  before(async () => {
    proxy = await startFreezableProxy(new URL(DATABASE_URL));
    server = await startTestGateway({
      env: { DATABASE_URL: proxy.url, HEADROOM_DATABASE_SCHEMA: schema, ...env },
      plan: "api-tier-4",
    });
  });
  after(async () => {
    proxy.up();
    await server.close();
    await proxy.close();
    await dropSchema(schema);
  });
  return parts;
}
