/**
 * Clients that misbehave on purpose, over real sockets: keys refused before a large body is
 * read, invalid keys throttled per address while known keys keep working, slow headers and
 * slow bodies cut, oversized headers and fuzzed bodies answered with a 4xx in the endpoint's
 * envelope — and the gateway still serving a good request afterwards.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import fc from "fast-check";
import { postMessages, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

const HOUR = 3_600_000;

/** A raw connection to the gateway that collects whatever it answers. */
async function rawSocket(
  server: TestGateway,
): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const url = new URL(server.url);
  const socket = connect(Number(url.port), url.hostname);
  await once(socket, "connect");
  let text = "";
  socket.on("data", (chunk) => {
    text += chunk.toString("latin1");
  });
  socket.on("error", () => {});
  const closed = once(socket, "close").then(() => undefined);
  return { socket, received: () => text, closed };
}

const goodRequest = {
  model: "claude-sonnet-4-6",
  max_tokens: 16,
  messages: [{ role: "user", content: "Still there?" }],
};

/** An invalid key, sent as if through a balancer that saw the client at `forwarded`. */
function guessFrom(server: TestGateway, forwarded: string): Promise<Response> {
  return fetch(`${server.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": "sk-hr-guess", "x-forwarded-for": forwarded, "content-type": "application/json" },
    body: JSON.stringify(goodRequest),
  });
}

describe("hostile clients", () => {
  let server: TestGateway;
  const clock = { now: Date.UTC(2026, 11, 1, 12) };

  before(async () => {
    server = await startTestGateway({
      clock: () => clock.now,
      configure: (config) => {
        config.server.headers_timeout_ms = 300;
        config.server.request_timeout_ms = 600;
        config.server.bad_key_limit_per_minute = 5;
      },
    });
  });
  after(() => server.stop());

  test("a bad key is refused from the headers: 401 before the 30 MB body is sent, and the connection closed", async () => {
    const { socket, received, closed } = await rawSocket(server);
    socket.write(
      [
        "POST /v1/messages HTTP/1.1",
        "host: headroom",
        "x-api-key: sk-hr-not-a-key-at-all",
        "content-type: application/json",
        `content-length: ${30 * 1024 * 1024}`,
        "",
        '{"model":"claude-sonnet-4-6","messages":[',
      ].join("\r\n"),
    );
    // Nothing more is sent: an answer can only come from the headers.
    await waitFor(() => received().includes("\r\n\r\n{"), "the 401");
    assert.match(received(), /^HTTP\/1\.1 401 /);
    assert.match(received(), /\r\nconnection: close\r\n/i);
    const body = JSON.parse(received().slice(received().indexOf("\r\n\r\n") + 4));
    assert.equal(body.error.type, "authentication_error");
    await closed;
    clock.now += HOUR; // the next test's address starts with a full bucket
  });

  test("a client writing a 31 MB body with a wrong key reads the 401, not a broken connection", async () => {
    // The official SDK (undici underneath) reads the early answer while it is still sending:
    // closing after the 401 must not turn a wrong key into a network error for it.
    // A gateway with the default timeouts: this suite's 300 ms header timeout (for slowloris)
    // cut the 31 MB upload with a 408 on a busy machine.
    const plain = await startTestGateway();
    try {
      const client = new Anthropic({ baseURL: plain.url, apiKey: "sk-hr-mistyped", maxRetries: 0 });
      await assert.rejects(
        client.messages.create({
          model: "claude-sonnet-4-6",
          max_tokens: 16,
          messages: [{ role: "user", content: "a".repeat(31 * 1024 * 1024) }],
        }),
        (error: unknown) => error instanceof Anthropic.AuthenticationError && error.status === 401,
      );
    } finally {
      await plain.stop();
    }
  });

  test("every customer route refuses a key it has never seen, including token counting and the model list", async () => {
    const headers = { "x-api-key": "sk-hr-never-issued", "content-type": "application/json" };
    const count = await fetch(`${server.url}/v1/messages/count_tokens`, {
      method: "POST",
      headers,
      body: JSON.stringify(goodRequest),
    });
    assert.equal(count.status, 401);
    assert.equal(((await count.json()) as { error: { type: string } }).error.type, "authentication_error");
    assert.equal((await fetch(`${server.url}/v1/models`, { headers })).status, 401);
    assert.equal((await fetch(`${server.url}/v1/models/claude-sonnet-4-6`, { headers })).status, 401);
    assert.equal((await fetch(`${server.url}/v1/headroom/limits`, { headers })).status, 401);
    clock.now += HOUR;
  });

  test("repeated invalid keys from one address get 429 with retry-after; a key known to be valid still works", async () => {
    // The valid key is seen once, so the gateway knows it.
    assert.equal((await postMessages(server, goodRequest)).status, 200);
    const bad = (path = "/v1/messages") =>
      fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { authorization: "Bearer sk-hr-guess", "content-type": "application/json" },
        body: JSON.stringify(goodRequest),
      });
    for (let i = 0; i < 5; i++)
      assert.equal((await bad()).status, 401, `guess ${i + 1} of the 5 a minute allows`);
    const throttled = await bad();
    assert.equal(throttled.status, 429);
    // 5 a minute refill one every 12 s.
    assert.equal(throttled.headers.get("retry-after"), "12");
    assert.deepEqual(((await throttled.json()) as { error: object }).error, {
      type: "rate_limit_error",
      message: "Too many invalid API keys from this address; retry after 12 s.",
    });
    const openai = await bad("/v1/chat/completions");
    assert.equal(openai.status, 429);
    assert.equal(
      ((await openai.json()) as { error: { code: string | null } }).error.code !== undefined,
      true,
    );
    // The address's valid key is unaffected.
    assert.equal((await postMessages(server, goodRequest)).status, 200);
    // Twelve seconds later one more guess is allowed (and refused as invalid).
    clock.now += 12_000;
    assert.equal((await bad()).status, 401);
    assert.equal((await bad()).status, 429);
    clock.now += HOUR;
  });

  test("a forged X-Forwarded-For does not escape the throttle: without trusted proxies the socket's peer is the client", async () => {
    const guess = (forwarded: string) => guessFrom(server, forwarded);
    for (let i = 0; i < 5; i++) assert.equal((await guess(`198.51.100.${i}`)).status, 401);
    assert.equal((await guess("198.51.100.77")).status, 429);
    clock.now += HOUR;
  });

  test("a client that never finishes its headers is disconnected (slowloris)", async () => {
    const { socket, closed } = await rawSocket(server);
    socket.write("POST /v1/messages HTTP/1.1\r\nhost: headroom\r\nx-api-key: ");
    await closed;
  });

  test("a client that never finishes its body is answered 408 and disconnected", async () => {
    const { socket, received, closed } = await rawSocket(server);
    socket.write(
      [
        "POST /v1/messages HTTP/1.1",
        "host: headroom",
        `x-api-key: ${server.key}`,
        "content-type: application/json",
        "content-length: 1000",
        "",
        '{"model":',
      ].join("\r\n"),
    );
    await closed;
    assert.match(received(), /^HTTP\/1\.1 408 /);
    assert.equal(
      JSON.parse(received().slice(received().indexOf("\r\n\r\n") + 4)).error.type,
      "timeout_error",
    );
  });

  test("headers too large or too many get 431 in Anthropic's envelope with a request id", async () => {
    const { socket, received, closed } = await rawSocket(server);
    const many = Array.from({ length: 3_000 }, (_, i) => `x-filler-${i}: ${"v".repeat(8)}`);
    socket.write(["GET /v1/models HTTP/1.1", "host: headroom", ...many, "", ""].join("\r\n"));
    await closed;
    assert.match(received(), /^HTTP\/1\.1 431 /);
    const requestId = /\r\nrequest-id: (\S+)\r\n/.exec(received())?.[1];
    assert.deepEqual(JSON.parse(received().slice(received().indexOf("\r\n\r\n") + 4)), {
      type: "error",
      error: { type: "request_too_large", message: "Request headers are too large or too many." },
      request_id: requestId,
    });
  });

  test("fuzzed bodies on every generation endpoint get a 4xx in that endpoint's envelope, never a 5xx", async () => {
    const depth = fc.integer({ min: 1, max: 20_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`);
    const invalidUtf8 = fc
      .uint8Array({ minLength: 1, maxLength: 64 })
      .map((bytes) =>
        Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xff, 0xfe, ...bytes]), Buffer.from('"}')]),
      );
    const body = fc.oneof(
      fc.string(),
      fc.json(),
      depth,
      invalidUtf8,
      fc
        .record({
          model: fc.oneof(fc.string(), fc.constant("claude-sonnet-4-6"), fc.integer()),
          max_tokens: fc.oneof(fc.integer(), fc.double(), fc.string()),
          messages: fc.oneof(
            fc.anything(),
            fc.array(fc.record({ role: fc.string(), content: fc.anything() })),
          ),
          stream: fc.anything(),
        })
        .map((value) => JSON.stringify(value)),
    );
    const path = fc.constantFrom(
      "/v1/messages",
      "/v1/chat/completions",
      "/v1/responses",
      "/v1/messages/count_tokens",
    );
    await fc.assert(
      fc.asyncProperty(path, body, async (route, payload) => {
        const response = await fetch(`${server.url}${route}`, {
          method: "POST",
          headers: {
            "x-api-key": server.key,
            authorization: `Bearer ${server.key}`,
            "content-type": "application/json",
          },
          body: payload,
        });
        const text = await response.text();
        if (response.status === 200) return; // a fuzzed body may happen to be a valid request
        assert.ok(
          response.status >= 400 && response.status < 500,
          `${response.status} for ${route}: ${text}`,
        );
        const parsed = JSON.parse(text);
        if (route === "/v1/messages" || route === "/v1/messages/count_tokens") {
          assert.equal(parsed.type, "error");
          assert.equal(typeof parsed.error.message, "string");
        } else {
          assert.equal(typeof parsed.error.message, "string");
          assert.ok("param" in parsed.error && "code" in parsed.error, text);
        }
      }),
      { numRuns: 150, seed: 20261201 },
    );
    assert.equal((await postMessages(server, goodRequest)).status, 200, "still serving");
  });

  test("fuzzed header values never get a 5xx", async () => {
    const value = fc.string({ maxLength: 200 }).filter((text) => /^[\t\x20-\x7e]*$/.test(text));
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/);
    await fc.assert(
      fc.asyncProperty(fc.dictionary(name, value, { maxKeys: 40 }), value, async (headers, key) => {
        const response = await fetch(`${server.url}/v1/messages`, {
          method: "POST",
          headers: { ...headers, "x-api-key": key || server.key, "content-type": "application/json" },
          body: JSON.stringify(goodRequest),
        });
        await response.arrayBuffer();
        assert.ok(response.status < 500, `${response.status}`);
        // Guesses must not throttle the rest of the run: a minute passes between tries.
        clock.now += 60_000;
      }),
      { numRuns: 100, seed: 20261201 },
    );
  });
});

describe("behind trusted load balancers", () => {
  let server: TestGateway;
  before(async () => {
    server = await startTestGateway({
      clock: () => Date.UTC(2026, 11, 1, 12),
      configure: (config) => {
        config.server.bad_key_limit_per_minute = 5;
        config.server.trusted_proxies = ["127.0.0.1", "::1"];
      },
    });
  });
  after(() => server.stop());

  test("each forwarded client has its own throttle; a client cannot prepend addresses to pose as another", async () => {
    const guess = (forwarded: string) => guessFrom(server, forwarded);
    for (let i = 0; i < 5; i++) assert.equal((await guess("203.0.113.5")).status, 401, `guess ${i + 1}`);
    assert.equal((await guess("203.0.113.5")).status, 429, "the sixth from one client");
    assert.equal((await guess("203.0.113.6")).status, 401, "another client behind the same balancer");
    // The balancer appends the address it saw; what the client wrote before it is not believed.
    assert.equal((await guess("192.0.2.1, 203.0.113.5")).status, 429);
  });

  test("an IPv6 client is counted by its /64: new addresses in it do not buy new guesses", async () => {
    for (let i = 1; i <= 5; i++) assert.equal((await guessFrom(server, `2001:db8:7:7::${i}`)).status, 401);
    assert.equal((await guessFrom(server, "2001:db8:7:7:abcd::99")).status, 429);
    assert.equal((await guessFrom(server, "2001:db8:7:8::1")).status, 401, "the next /64 is another client");
  });
});
