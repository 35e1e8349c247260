import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseSse } from "../../src/protocol/sse-parser.ts";
import { openDatabase } from "../../src/stores/sqlite.ts";
import { SqliteLedger } from "../../src/stores/sqlite-ledger.ts";
import { startTestGateway } from "../helpers/gateway.ts";

async function streamEvents(url: string, key: string, tokens: number) {
  const response = await fetch(`${url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({
      model: "claude-sonnet-4-6",
      max_tokens: 10_000,
      stream: true,
      messages: [{ role: "user", content: `sim:tokens=${tokens}` }],
    }),
  });
  return { response, events: parseSse(response.body as AsyncIterable<Uint8Array>) };
}

function slowSonnet(grace: number) {
  return startTestGateway({
    configure(config) {
      config.server.shutdown_grace_ms = grace;
      const sonnet = config.models.find((model) => model.id === "claude-sonnet-4-6");
      if (sonnet?.simulation)
        sonnet.simulation = { ...sonnet.simulation, decode_tokens_per_s: 100, ttft_ms: 0 };
    },
  });
}

async function ledgerAfterClose(dataDir: string) {
  const db = openDatabase(dataDir);
  const ledger = new SqliteLedger(db);
  const events = await ledger.events({ account: "test" });
  await ledger.close();
  db.close();
  return events;
}

describe("graceful shutdown", () => {
  test("a stream in flight finishes within the grace time, new connections are refused, and the ledger is flushed", async () => {
    // 30 tokens take 0.3 s at 100 tokens/s; the grace time is far longer, so close waits for them.
    const server = await slowSonnet(60_000);
    const { events } = await streamEvents(server.url, server.key, 30);
    const iterator = events[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.event, "message_start");
    const closing = server.close();
    await assert.rejects(fetch(`${server.url}/healthz`));
    const rest: string[] = [];
    for (let next = await iterator.next(); !next.done; next = await iterator.next())
      rest.push(next.value.event);
    assert.equal(rest.at(-1), "message_stop");
    await closing;
    const [event] = await ledgerAfterClose(server.dataDir);
    assert.equal(event?.status, 200);
    assert.equal(event?.output_tokens, 30);
    await server.stop();
  });

  test("a stream still running at the end of the grace time is cut with an overloaded_error event and charged for what it produced", async () => {
    // 5,000 tokens take 50 s at 100 tokens/s: far longer than the grace time.
    const server = await slowSonnet(150);
    const { events } = await streamEvents(server.url, server.key, 5_000);
    const closing = server.close();
    const seen: Array<{ event: string; data: string }> = [];
    for await (const event of events) seen.push(event);
    const last = seen.at(-1);
    assert.equal(last?.event, "error");
    assert.equal(JSON.parse(last?.data ?? "{}").error.type, "overloaded_error");
    await closing;
    const [event] = await ledgerAfterClose(server.dataDir);
    assert.equal(event?.status, 529);
    assert.ok(
      (event?.output_tokens ?? 0) > 0 && (event?.output_tokens ?? 0) < 5_000,
      `charged ${event?.output_tokens}`,
    );
    await server.stop();
  });
});
