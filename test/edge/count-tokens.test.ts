/**
 * Exact token counts of large prompts are made off the event loop: one key's 4 MB
 * count_tokens does not hold other keys' requests or /healthz, and the count is the same as
 * the tokenizer's in place.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { countRequestTokens } from "../../src/protocol/tokens/count.ts";
import { INLINE_TOKENS, TokenCountPool, WORKER_PARSE_BYTES } from "../../src/protocol/tokens/count-pool.ts";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

/** A prompt of varied words (BPE merges differ from word to word), `bytes` long. */
function prompt(bytes: number): string {
  const words = ["capacity", "planner", "gateway", "orbit", "β", "tokens/s", "Colossus", "42", "GB200", "\n"];
  const parts: string[] = [];
  let length = 0;
  for (let i = 0; length < bytes; i++) {
    const word = `${words[i % words.length]}${i % 7 === 0 ? i : ""} `;
    parts.push(word);
    length += word.length;
  }
  return parts.join("");
}

describe("token counting off the event loop", () => {
  let server: TestGateway;
  before(async () => {
    server = await startTestGateway();
  });
  after(() => server.stop());

  test("a large request counts on the worker exactly as in place; a small one in place", async () => {
    const pool = new TokenCountPool();
    try {
      const large = { model: "m", messages: [{ role: "user" as const, content: prompt(600_000) }] };
      const small = { model: "m", messages: [{ role: "user" as const, content: "hello there" }] };
      const counted = pool.count(large);
      assert.ok(counted instanceof Promise, "a large request goes to the worker");
      assert.equal(await counted, countRequestTokens(large));
      assert.ok(countRequestTokens(large) > INLINE_TOKENS);
      assert.equal(pool.count(small), countRequestTokens(small), "a small one is counted in place");
    } finally {
      await pool.close();
    }
  });

  test("while one key's 4 MB prompt is counted, /healthz and another key's count answer first", async () => {
    const other = (await server.gateway.accounts.createKey("other-tenant", "api-tier-4")).key;
    const count = (key: string, content: string) =>
      fetch(`${server.url}/v1/messages/count_tokens`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json" },
        body: JSON.stringify({ model: "claude-sonnet-4-6", messages: [{ role: "user", content }] }),
      });
    const order: string[] = [];
    const big = count(server.key, prompt(4 * 1024 * 1024)).then(async (response) => {
      order.push("big");
      return response;
    });
    // Asked once the gateway has handed the big prompt to its worker (a condition, not a delay).
    await waitFor(() => server.gateway.tokenCounter.waiting === 1, "the big prompt on the worker");
    const health = fetch(`${server.url}/healthz`).then((response) => {
      order.push("healthz");
      return response;
    });
    const small = count(other, "a short question").then(async (response) => {
      order.push("small");
      return response;
    });
    const [bigAnswer, healthAnswer, smallAnswer] = await Promise.all([big, health, small]);
    assert.equal(bigAnswer.status, 200);
    assert.equal(healthAnswer.status, 200);
    assert.equal(smallAnswer.status, 200);
    const tokens = ((await bigAnswer.json()) as { input_tokens: number }).input_tokens;
    assert.ok(tokens > 500_000, `${tokens} tokens`);
    assert.equal(order.at(-1), "big", `answered in the order ${order.join(", ")}`);
  });

  test("a body of a megabyte or more is decoded, parsed and validated on the worker, with the same count and the same 400s as in place", async () => {
    const send = (body: string) =>
      fetch(`${server.url}/v1/messages/count_tokens`, {
        method: "POST",
        headers: { "x-api-key": server.key, "content-type": "application/json" },
        body,
      });
    const content = prompt(WORKER_PARSE_BYTES + 10_000);
    const request = { model: "claude-sonnet-4-6", messages: [{ role: "user" as const, content }] };
    const counted = await send(JSON.stringify(request));
    assert.equal(counted.status, 200);
    assert.equal(
      ((await counted.json()) as { input_tokens: number }).input_tokens,
      countRequestTokens(request),
    );
    const malformed = await send(`${JSON.stringify(request).slice(0, -2)}`);
    assert.equal(malformed.status, 400);
    assert.equal(malformed.headers.get("x-headroom-error-code"), "invalid_json");
    assert.match(
      ((await malformed.json()) as { error: { message: string } }).error.message,
      /Malformed JSON/,
    );
    const missing = await send(JSON.stringify({ messages: request.messages }));
    assert.equal(missing.status, 400);
    assert.equal(missing.headers.get("x-headroom-error-code"), "invalid_request");
    assert.equal(
      ((await missing.json()) as { error: { message: string } }).error.message,
      "model: Field required",
    );
    // A pool whose worker parses: the bytes' count is the parsed body's.
    const pool = new TokenCountPool();
    try {
      assert.equal(await pool.countBytes(Buffer.from(JSON.stringify(request))), countRequestTokens(request));
    } finally {
      await pool.close();
    }
  });
});
