import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { parseSse } from "../../src/protocol/sse-parser.ts";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";

/** A real Claude Code request's structure (captured from the CLI; long texts replaced by their length). */
const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/claude-code-request.json", import.meta.url), "utf8"),
) as {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown> & { tools: unknown[] };
};

describe("a coding agent's request", () => {
  let server: TestGateway;
  before(async () => {
    server = await startTestGateway();
  });
  after(() => server.stop());

  test("Claude Code's request (stream, 24 tools, adaptive thinking, a mid-conversation system message, beta headers) streams to completion", async () => {
    assert.equal(fixture.body.tools.length, 24);
    const body = { ...fixture.body, max_tokens: 128_000 };
    const headers: Record<string, string> = { ...fixture.headers, "x-api-key": server.key };
    delete headers.authorization;
    delete headers["content-length"];
    const response = await fetch(`${server.url}${fixture.url}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.match(response.headers.get("request-id") ?? "", /^req_/);
    const types: string[] = [];
    let outputTokens = 0;
    for await (const event of parseSse(response.body as AsyncIterable<Uint8Array>)) {
      types.push(event.event);
      const payload = JSON.parse(event.data);
      if (event.event === "message_delta") outputTokens = payload.usage.output_tokens;
    }
    assert.equal(types[0], "message_start");
    assert.equal(types.at(-1), "message_stop");
    assert.ok(types.includes("content_block_delta"));
    assert.ok(outputTokens > 0 && outputTokens < 128_000, "output is not reserved at max_tokens");
  });

  test("the same request with a dozen tools and enabled thinking via Bearer auth also completes", async () => {
    const body = {
      ...fixture.body,
      tools: fixture.body.tools.slice(0, 12),
      thinking: { type: "enabled", budget_tokens: 4000 },
      max_tokens: 128_000,
    };
    const response = await fetch(`${server.url}/v1/messages?beta=true`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${server.key}`,
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": fixture.headers["anthropic-beta"] ?? "",
      },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(
      text,
      /event: content_block_start\ndata: \{"type":"content_block_start","index":0,"content_block":\{"type":"thinking"/,
    );
    assert.match(text, /event: message_stop/);
  });
});
