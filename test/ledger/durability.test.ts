/**
 * The ledger's promise: a response whose last byte reached the client has its usage durably
 * recorded exactly once. Checked from outside the gateway's process memory: a second SQLite
 * connection reads the file the moment the client has the whole response, with no flush.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import Database from "better-sqlite3";
import OpenAI from "openai";
import type { UsageEvent } from "../../src/ledger/usage-event.ts";
import { openDatabase } from "../../src/stores/sqlite.ts";
import { SqliteLedger } from "../../src/stores/sqlite-ledger.ts";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { afterTurns } from "../helpers/wait.ts";
import { usageEvent } from "../stores/store-contract.ts";

describe("a complete response is already in the ledger file", () => {
  let server: TestGateway;
  let reader: Database.Database;
  const row = (requestId: string | null) =>
    reader
      .prepare("select status, input_tokens, output_tokens from usage_events where request_id = ?")
      .all(requestId) as Array<{ status: number; input_tokens: number; output_tokens: number }>;

  before(async () => {
    server = await startTestGateway();
    // A slow disk: each write starts 50 turns of the event loop late, turns in which the client's
    // socket is read. A gateway that released a response's end before its row was durable would
    // let the client read a ledger without it.
    const { ledger } = server.gateway;
    const write = ledger.record.bind(ledger);
    ledger.record = (event) => afterTurns(50).then(() => write(event));
    reader = new Database(join(server.dataDir, "headroom.db"), { readonly: true });
  });
  after(async () => {
    reader.close();
    await server.stop();
  });

  test("a JSON reply", async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    const { data, response } = await client.messages
      .create({
        model: "claude-sonnet-4-6",
        max_tokens: 64,
        messages: [{ role: "user", content: "sim:tokens=30" }],
      })
      .withResponse();
    const rows = row(response.headers.get("request-id"));
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.status, 200);
    assert.equal(rows[0]?.output_tokens, data.usage.output_tokens);
  });

  test("an Anthropic stream, read to its last event", async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    const stream = client.messages.stream({
      model: "claude-sonnet-4-6",
      max_tokens: 64,
      messages: [{ role: "user", content: "sim:tokens=40" }],
    });
    const message = await stream.finalMessage();
    const { response } = await stream.withResponse();
    const rows = row(response.headers.get("request-id"));
    assert.equal(rows.length, 1, "recorded before message_stop was released");
    assert.equal(rows[0]?.output_tokens, message.usage.output_tokens);
  });

  test("an OpenAI Chat Completions stream, read to [DONE]", async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    const { data: stream, response } = await client.chat.completions
      .create({
        model: "claude-sonnet-4-6",
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: "sim:tokens=25" }],
      })
      .withResponse();
    let completion = 0;
    for await (const chunk of stream) completion = chunk.usage?.completion_tokens ?? completion;
    const rows = row(response.headers.get("x-request-id"));
    assert.equal(rows.length, 1, "recorded before [DONE] was released");
    assert.equal(rows[0]?.output_tokens, completion);
  });
});

describe("ledger rows are unique by request id", () => {
  test("a repeated write of the same request counts once", async () => {
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "headroom-ledger-"));
    const db = openDatabase(dir);
    const ledger = new SqliteLedger(db);
    const event = usageEvent({ request_id: "req_once", account: "a" });
    await Promise.all([ledger.record(event), ledger.record({ ...event, output_tokens: 999 })]);
    await ledger.record(event);
    const rows = await ledger.events({ account: "a" });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.output_tokens, 20, "the first write stands");

    // Replay goes through rows in time order, page by page, ties broken by insertion.
    await Promise.all(
      [5_000, 3_000, 3_000, 4_000, 3_000].map((at, i) =>
        ledger.record({ ...event, request_id: `req_${i}`, at_ms: at, output_tokens: i }),
      ),
    );
    const replayed = [...(ledger.replay(2_000, {}, 2) as Iterable<UsageEvent>)].map((row) => row.request_id);
    assert.deepEqual(replayed, ["req_1", "req_2", "req_4", "req_3", "req_0"]);
    assert.deepEqual(
      [...(ledger.replay(3_500, {}, 2) as Iterable<UsageEvent>)].map((row) => row.request_id),
      ["req_3", "req_0"],
    );
    await ledger.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
