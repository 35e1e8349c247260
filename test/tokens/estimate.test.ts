import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import type { CountTokensRequest } from "../../src/protocol/anthropic.ts";
import { countRequestTokens } from "../../src/protocol/tokens/count.ts";
import {
  CHARS_PER_TOKEN,
  estimateRequestTokens,
  estimateTextTokens,
} from "../../src/protocol/tokens/estimate.ts";
import { deltaCharacters, UsageMeter } from "../../src/protocol/usage-meter.ts";

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/claude-code-request.json", import.meta.url), "utf8"),
).body as CountTokensRequest;

function withToolResults(base: CountTokensRequest, text: string, turns: number): CountTokensRequest {
  const messages = [...base.messages];
  for (let i = 0; i < turns; i++) {
    messages.push(
      { role: "user", content: [{ type: "tool_result", tool_use_id: `toolu_${i}`, content: text }] },
      { role: "assistant", content: [{ type: "text", text: "Read it." }] },
    );
  }
  return { ...base, messages };
}

describe("token estimates on the request path", () => {
  test("text is estimated at CHARS_PER_TOKEN characters per token, rounded up", () => {
    assert.equal(estimateTextTokens(0), 0);
    assert.equal(estimateTextTokens(1), 1);
    assert.equal(estimateTextTokens(7), 2);
    assert.equal(estimateTextTokens(700), Math.ceil(700 / CHARS_PER_TOKEN));
  });

  test("a Claude Code prompt's estimate is within 35% of the exact count, and grows with the prompt", () => {
    const source = readFileSync(new URL("../../src/edge/exchange.ts", import.meta.url), "utf8");
    for (const request of [fixture, withToolResults(fixture, source, 10)]) {
      const exact = countRequestTokens(request);
      const estimate = estimateRequestTokens(request);
      assert.ok(
        Math.abs(estimate - exact) / exact < 0.35,
        `estimate ${estimate} against exact ${exact} tokens`,
      );
    }
    const small = estimateRequestTokens(fixture);
    const large = estimateRequestTokens(withToolResults(fixture, source, 10));
    assert.ok(large - small >= (10 * source.length) / CHARS_PER_TOKEN, `${small} → ${large}`);
  });

  test("every part of a request counts: system, tool definitions, tool inputs, images", () => {
    const bare: CountTokensRequest = { model: "m", messages: [{ role: "user", content: "hi" }] };
    const base = estimateRequestTokens(bare);
    assert.ok(estimateRequestTokens({ ...bare, system: "x".repeat(350) }) >= base + 100);
    assert.ok(
      estimateRequestTokens({
        ...bare,
        tools: [{ name: "read", description: "y".repeat(350), input_schema: { type: "object" } }],
      }) >=
        base + 100,
    );
    assert.ok(
      estimateRequestTokens({
        ...bare,
        messages: [
          ...bare.messages,
          {
            role: "assistant",
            content: [{ type: "tool_use", id: "t", name: "read", input: { path: "z".repeat(350) } }],
          },
        ],
      }) >=
        base + 100,
    );
    assert.ok(
      estimateRequestTokens({
        ...bare,
        messages: [
          {
            role: "user",
            content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } }],
          },
        ],
      }) >= 1_600,
    );
  });
});

describe("the usage meter measures deltas without parsing them", () => {
  const delta = (field: string, type: string, text: string) =>
    JSON.stringify({ type: "content_block_delta", index: 0, delta: { type, [field]: text } });

  test("a text delta's characters are its text's", () => {
    assert.equal(deltaCharacters(delta("text", "text_delta", "Hello world")), "Hello world".length);
    assert.equal(deltaCharacters(delta("text", "text_delta", "")), 1, "a delta is at least one character");
  });

  test("signatures are not output", () => {
    assert.equal(deltaCharacters(delta("signature", "signature_delta", "A".repeat(400))), 0);
  });

  test("a cut stream is charged the estimate of what it streamed; the upstream's count wins when it comes", () => {
    const meter = new UsageMeter();
    const text = "x".repeat(700);
    for (let i = 0; i < 10; i++)
      meter.observe({ event: "content_block_delta", data: delta("text", "text_delta", text) });
    assert.equal(meter.outputTokens, estimateTextTokens(7_000));
    meter.observe({
      event: "message_delta",
      data: JSON.stringify({
        type: "message_delta",
        delta: { stop_reason: "end_turn" },
        usage: { output_tokens: 1_500 },
      }),
    });
    assert.equal(meter.outputTokens, 1_500);
  });

  test("each delta counts as at least one token", () => {
    const meter = new UsageMeter();
    for (let i = 0; i < 12; i++)
      meter.observe({ event: "content_block_delta", data: delta("text", "text_delta", "a") });
    assert.equal(meter.outputTokens, 12);
  });
});
