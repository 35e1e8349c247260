/**
 * The operator's surfaces are closed to everyone else: /metrics asks for the admin token (or is
 * served open on an address of its own), the dashboard and admin API carry security headers,
 * and no endpoint answers a browser's cross-origin preflight with a CORS grant.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { scrapeMetrics, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

const ADMIN = "hr-admin-operator-security-test-token";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("the operator's surfaces", () => {
  let server: TestGateway;
  let metricsPort: number;

  before(async () => {
    metricsPort = await freePort();
    server = await startTestGateway({
      env: { HEADROOM_ADMIN_TOKEN: ADMIN },
      configure: (config) => {
        config.metrics.listen = `127.0.0.1:${metricsPort}`;
      },
    });
  });
  after(() => server.stop());

  test("/metrics on the main port needs the admin token: none, a customer key or a wrong token get 401", async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${server.key}` },
      { authorization: "Bearer hr-admin-wrong" },
    ];
    for (const headers of attempts) {
      const response = await fetch(`${server.url}/metrics`, { headers });
      assert.equal(response.status, 401, JSON.stringify(headers));
      const body = (await response.json()) as { error: { type: string; message: string } };
      assert.equal(body.error.type, "authentication_error");
      assert.doesNotMatch(body.error.message, /headroom_/, "no metric leaks into the refusal");
    }
    assert.match(await scrapeMetrics(server), /^# TYPE headroom_requests_total counter$/m);
  });

  test("metrics.listen serves /metrics open on its own address, and nothing else there", async () => {
    const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(scraped.status, 200);
    assert.match(scraped.headers.get("content-type") ?? "", /^text\/plain/);
    assert.match(await scraped.text(), /^# HELP headroom_requests_total/m);
    const other = await fetch(`http://127.0.0.1:${metricsPort}/v1/models`, {
      headers: { "x-api-key": server.key },
    });
    assert.equal(other.status, 404);
  });

  test("the dashboard and the admin API carry security headers; customer endpoints carry no CORS grant", async () => {
    for (const path of ["/dashboard/", "/admin/v1/accounts"]) {
      const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      await response.arrayBuffer();
      assert.equal(response.headers.get("x-frame-options"), "DENY", path);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(response.headers.get("referrer-policy"), "no-referrer", path);
      assert.match(response.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/, path);
    }
    for (const path of ["/v1/messages", "/admin/v1/accounts", "/metrics"]) {
      const preflight = await fetch(`${server.url}${path}`, {
        method: "OPTIONS",
        headers: {
          origin: "https://evil.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "x-api-key, authorization",
        },
      });
      await preflight.arrayBuffer();
      assert.equal(preflight.headers.get("access-control-allow-origin"), null, path);
      assert.equal(preflight.headers.get("access-control-allow-credentials"), null, path);
    }
  });

  test("metrics.access: open makes /metrics on the main port public again", async () => {
    const open = await startTestGateway({
      configure: (config) => {
        config.metrics.access = "open";
      },
    });
    try {
      const response = await fetch(`${open.url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /^# HELP headroom_/m);
    } finally {
      await open.stop();
    }
  });
});

describe("one key never reads or moves another account", () => {
  let server: TestGateway;
  before(async () => {
    // A fixed clock: an unused window's reset is "now + its length", which would move between
    // the two reads on the real clock and make B's windows look touched.
    const now = Date.UTC(2026, 6, 1, 12);
    server = await startTestGateway({ plan: "pro", clock: () => now });
  });
  after(() => server.stop());

  test("usage of account A leaves account B's windows untouched, and each key sees only its own account", async () => {
    const other = (await server.gateway.accounts.createKey("other", "pro")).key;
    const view = async (key: string) => {
      const response = await fetch(`${server.url}/v1/headroom/limits?model=claude-sonnet-4-6`, {
        headers: { "x-api-key": key },
      });
      return (await response.json()) as {
        account: string;
        limits: Array<{ name: string; remaining: number }>;
      };
    };
    const before = await view(other);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": server.key, "content-type": "application/json" },
        body: JSON.stringify({
          model: "claude-sonnet-4-6",
          max_tokens: 64,
          messages: [{ role: "user", content: "sim:tokens=64" }],
        }),
      });
      assert.equal(response.status, 200);
    }
    const mine = await view(server.key);
    const theirs = await view(other);
    assert.equal(mine.account, "test");
    assert.equal(theirs.account, "other");
    const session = (limits: typeof mine) => limits.limits.find((limit) => limit.name === "5h")?.remaining;
    assert.ok((session(mine) ?? 0) < (session(before) ?? 0), "A's own window moved");
    assert.deepEqual(theirs.limits, before.limits, "B's windows did not");
    // A customer key cannot reach another account through the admin API either.
    const admin = await fetch(`${server.url}/admin/v1/accounts`, {
      headers: { authorization: `Bearer ${server.key}` },
    });
    assert.equal(admin.status, 403);
  });
});
