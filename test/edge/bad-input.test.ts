import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

interface Case {
  name: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  status: number;
  type: string;
  /** The stable code of docs/errors.md, sent as x-headroom-error-code. */
  code?: string;
  message?: RegExp;
}

const valid = JSON.stringify({
  model: "claude-sonnet-4-6",
  max_tokens: 5,
  messages: [{ role: "user", content: "x" }],
});
const validChat = JSON.stringify({ model: "claude-sonnet-4-6", messages: [{ role: "user", content: "x" }] });

describe("bad input gets a clear error in the endpoint's own envelope", () => {
  let server: TestGateway;
  let revokedKey: string;

  before(async () => {
    server = await startTestGateway();
    const revoked = await server.gateway.accounts.createKey("test", undefined);
    server.gateway.accounts.revokeKey(revoked.id);
    revokedKey = revoked.key;
  });
  after(() => server.stop());

  async function send(testCase: Case, authHeader: Record<string, string>) {
    return fetch(`${server.url}${testCase.path ?? "/v1/messages"}`, {
      method: testCase.method ?? "POST",
      headers: { "content-type": "application/json", ...authHeader, ...testCase.headers },
      body: testCase.method === "GET" ? undefined : (testCase.body ?? valid),
    });
  }

  const anthropicCases = (): Case[] => [
    {
      name: "malformed JSON",
      body: '{"model": ',
      status: 400,
      type: "invalid_request_error",
      code: "invalid_json",
      message: /Malformed JSON/,
    },
    {
      name: "a JSON array instead of an object",
      body: "[1,2]",
      status: 400,
      type: "invalid_request_error",
      code: "invalid_request",
      message: /JSON object/,
    },
    {
      name: "an empty body",
      body: "",
      status: 400,
      type: "invalid_request_error",
      code: "empty_body",
      message: /empty/,
    },
    {
      name: "missing max_tokens",
      body: JSON.stringify({ model: "claude-sonnet-4-6", messages: [{ role: "user", content: "x" }] }),
      status: 400,
      type: "invalid_request_error",
      code: "invalid_request",
      message: /^max_tokens: Field required$/,
    },
    {
      name: "max_tokens of the wrong type",
      body: JSON.stringify({
        model: "claude-sonnet-4-6",
        max_tokens: "ten",
        messages: [{ role: "user", content: "x" }],
      }),
      status: 400,
      type: "invalid_request_error",
      message: /^max_tokens: /,
    },
    {
      name: "a message without content",
      body: JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 5, messages: [{ role: "user" }] }),
      status: 400,
      type: "invalid_request_error",
      message: /^messages\.0\.content: /,
    },
    {
      name: "no key",
      headers: { "x-api-key": "" },
      status: 401,
      type: "authentication_error",
      code: "missing_api_key",
      message: /No API key/,
    },
    {
      name: "an unknown key",
      headers: { "x-api-key": "sk-hr-unknown" },
      status: 401,
      type: "authentication_error",
      code: "invalid_api_key",
      message: /Invalid API key/,
    },
    {
      name: "an unknown model",
      body: JSON.stringify({
        model: "no-such-model",
        max_tokens: 5,
        messages: [{ role: "user", content: "x" }],
      }),
      status: 404,
      type: "not_found_error",
      code: "unknown_model",
      message: /no-such-model/,
    },
    {
      name: "an unknown route",
      path: "/v1/nothing-here",
      status: 404,
      type: "not_found_error",
      code: "not_found",
      message: /No route/,
    },
    {
      name: "a GET on a POST route",
      path: "/v1/messages",
      method: "GET",
      status: 404,
      type: "not_found_error",
    },
  ];

  for (const testCase of anthropicCases()) {
    test(`Anthropic endpoint: ${testCase.name} → ${testCase.status} ${testCase.type}`, async () => {
      const response = await send(testCase, { "x-api-key": server.key });
      assert.equal(response.status, testCase.status);
      const requestId = response.headers.get("request-id");
      assert.match(requestId ?? "", /^req_/);
      const body = await response.json();
      assert.deepEqual(Object.keys(body).sort(), ["error", "request_id", "type"]);
      assert.equal(body.type, "error");
      assert.equal(body.error.type, testCase.type);
      assert.equal(body.request_id, requestId);
      if (testCase.message) assert.match(body.error.message, testCase.message);
      if (testCase.code) assert.equal(response.headers.get("x-headroom-error-code"), testCase.code);
    });
  }

  test("a URL that does not decode is a 400 in the endpoint's envelope, with a request id", async () => {
    for (const [path, envelope] of [
      ["/v1/messages%ff%fe", "anthropic"],
      ["/v1/chat/completions%ff%fe", "openai"],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { "x-api-key": server.key },
      });
      assert.equal(response.status, 400);
      assert.match(response.headers.get("request-id") ?? "", /^req_/);
      const body = (await response.json()) as { type?: string; error: { type: string; message: string } };
      assert.equal(body.error.type, "invalid_request_error");
      assert.match(body.error.message, /URL is not valid/);
      assert.equal(body.type, envelope === "anthropic" ? "error" : undefined);
      assert.equal(response.headers.get("x-headroom-error-code"), "invalid_url");
    }
  });

  test("a revoked key is refused and told so", async () => {
    const response = await send(
      { name: "revoked", status: 401, type: "authentication_error" },
      { "x-api-key": revokedKey },
    );
    assert.equal(response.status, 401);
    assert.match((await response.json()).error.message, /revoked/);
    assert.equal(response.headers.get("x-headroom-error-code"), "revoked_api_key");
  });

  test("a body over 32 MB is 413 request_too_large, and the server stays up", async () => {
    const huge = JSON.stringify({
      model: "claude-sonnet-4-6",
      max_tokens: 5,
      messages: [{ role: "user", content: "x".repeat(33 * 1024 * 1024) }],
    });
    const response = await send(
      { name: "huge", body: huge, status: 413, type: "request_too_large" },
      { "x-api-key": server.key },
    );
    assert.equal(response.status, 413);
    const body = await response.json();
    assert.equal(body.error.type, "request_too_large");
    assert.match(body.error.message, /32 MB/);
    assert.equal(response.headers.get("x-headroom-error-code"), "body_too_large");
    const after = await send({ name: "after", status: 200, type: "" }, { "x-api-key": server.key });
    assert.equal(after.status, 200);
  });

  const openAICases = (): Case[] => [
    {
      name: "malformed JSON",
      path: "/v1/chat/completions",
      body: "{",
      status: 400,
      type: "invalid_request_error",
    },
    {
      name: "missing messages",
      path: "/v1/chat/completions",
      body: JSON.stringify({ model: "claude-sonnet-4-6" }),
      status: 400,
      type: "invalid_request_error",
      message: /^messages: Field required$/,
    },
    {
      name: "an unknown key",
      path: "/v1/chat/completions",
      body: validChat,
      headers: { authorization: "Bearer nope" },
      status: 401,
      type: "authentication_error",
    },
    {
      name: "an unknown model",
      path: "/v1/chat/completions",
      body: JSON.stringify({ model: "nope", messages: [{ role: "user", content: "x" }] }),
      status: 404,
      type: "not_found_error",
    },
  ];

  for (const testCase of openAICases()) {
    test(`OpenAI endpoint: ${testCase.name} → ${testCase.status} in OpenAI's envelope`, async () => {
      const response = await send(testCase, { authorization: `Bearer ${server.key}` });
      assert.equal(response.status, testCase.status);
      assert.match(response.headers.get("x-request-id") ?? "", /^req_/);
      const body = await response.json();
      assert.deepEqual(Object.keys(body), ["error"]);
      assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
      assert.equal(body.error.type, testCase.type);
      if (testCase.message) assert.match(body.error.message, testCase.message);
    });
  }

  test("missing-field errors name the field as OpenAI's param", async () => {
    const response = await send(
      {
        name: "param",
        path: "/v1/chat/completions",
        body: JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
        status: 400,
        type: "",
      },
      { authorization: `Bearer ${server.key}` },
    );
    assert.equal((await response.json()).error.param, "model");
  });
});

describe("what the logs never hold", () => {
  test("a key sent in the URL's query is redacted in the request log, and other parameters are kept", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const server = await startTestGateway({ logger });
    try {
      const secret = server.key;
      await fetch(`${server.url}/v1/models?api_key=${secret}&limit=5`);
      await fetch(`${server.url}/v1/models?q=${secret}`);
      await fetch(`${server.url}/v1/models`, { headers: { "x-api-key": secret } });
      await waitFor(
        () => lines.filter((line) => line.includes('"msg":"request"')).length >= 3,
        "the request lines",
      );
      assert.ok(!lines.some((line) => line.includes(secret)), "the key appears in no log line");
      assert.ok(lines.some((line) => line.includes("api_key=[redacted]&limit=5")));
      assert.ok(
        lines.some((line) => line.includes("q=[redacted]")),
        "a value shaped like a key, whatever its name",
      );
    } finally {
      await server.stop();
    }
  });
});
