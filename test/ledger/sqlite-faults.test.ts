/**
 * Operator faults under a serving gateway's SQLite ledger: the disk fills, the file turns
 * read-only, the file is deleted. Each is SQLite's own failure on the gateway's own connection
 * (a page limit gives SQLITE_FULL exactly as a full disk does; query_only gives SQLITE_READONLY),
 * and each must end in a clear refusal, never a 200 without its row, and recover without a
 * restart where the fault clears.
 */
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, test } from "node:test";
import Database from "better-sqlite3";
import { postMessages, readSse, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

const body = {
  model: "claude-sonnet-4-6",
  max_tokens: 64,
  messages: [{ role: "user", content: "sim:tokens=20" }],
};

/** The gateway's own connection, through which the fault is made. */
const connectionOf = (server: TestGateway) => Reflect.get(server.gateway.ledger, "db") as Database.Database;

async function send(server: TestGateway) {
  const response = await postMessages(server, body);
  const json = (await response.json()) as { type: string; error?: { type: string; message: string } };
  return { status: response.status, requestId: response.headers.get("request-id"), json, response };
}

/** Sends until the ledger refuses a row; returns what was served before and the failed reply. */
async function sendUntilRefused(server: TestGateway) {
  const served: string[] = [];
  for (let i = 0; i < 500; i++) {
    const reply = await send(server);
    if (reply.status === 200) {
      served.push(reply.requestId as string);
      continue;
    }
    return { served, failed: reply };
  }
  throw new Error("the ledger never refused a row");
}

function rowsIn(file: string, requestIds: readonly string[]): Set<string> {
  const reader = new Database(file, { readonly: true });
  try {
    const rows = reader
      .prepare(
        `select request_id from usage_events where request_id in (${requestIds.map(() => "?").join(",")})`,
      )
      .all(...requestIds) as Array<{ request_id: string }>;
    return new Set(rows.map((row) => row.request_id));
  } finally {
    reader.close();
  }
}

describe("SQLite ledger faults while serving", () => {
  let server: TestGateway | undefined;
  afterEach(async () => {
    if (server) {
      connectionOf(server).pragma("query_only = OFF");
      connectionOf(server).pragma("max_page_count = 1073741823");
      await server.stop();
    }
    server = undefined;
  });

  for (const fault of [
    {
      name: "a full disk",
      reason: /is full: free space/,
      make: (db: Database.Database) =>
        db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true })}`),
      clear: (db: Database.Database) => db.pragma("max_page_count = 1073741823"),
    },
    {
      name: "a read-only database",
      reason: /is read-only: make it and its directory writable/,
      make: (db: Database.Database) => db.pragma("query_only = ON"),
      clear: (db: Database.Database) => db.pragma("query_only = OFF"),
    },
  ]) {
    test(`${fault.name}: the reply whose row fails is a 503, new requests are refused, and serving resumes when it clears`, async () => {
      server = await startTestGateway();
      const db = connectionOf(server);
      const before = await send(server);
      assert.equal(before.status, 200);
      fault.make(db);

      const { served, failed } = await sendUntilRefused(server);
      // The reply in flight when the write failed never completed: no 200 without its row.
      assert.equal(failed.status, 503);
      assert.equal(failed.json.error?.type, "api_error");
      assert.match(
        failed.json.error?.message ?? "",
        /Usage could not be recorded, so this response was not completed/,
      );
      assert.equal(failed.response.headers.get("retry-after"), "5");
      // While the store refuses, nothing new is served, and the operator can see why.
      assert.match(server.gateway.ledger.unavailable ?? "", fault.reason);
      const refused = await send(server);
      assert.equal(refused.status, 503);
      assert.match(refused.json.error?.message ?? "", /Usage cannot be recorded right now/);
      const stream = await postMessages(server, { ...body, stream: true });
      assert.equal(stream.status, 503, "a stream is refused before it starts");
      await stream.body?.cancel();

      fault.clear(db);
      await waitFor(() => server?.gateway.ledger.unavailable === undefined, "writes to resume");
      const after = await send(server);
      assert.equal(after.status, 200, "served again with no restart");
      await server.gateway.ledger.flush();
      const ids = [before.requestId, ...served, failed.requestId, after.requestId] as string[];
      const written = rowsIn(join(server.dataDir, "headroom.db"), ids);
      assert.deepEqual(
        ids.filter((id) => !written.has(id)),
        [],
        "every reply that reached the ledger has its row, the failed one's written once the store is back",
      );
    });
  }

  test("the database file deleted: rows keep their promise, a copy holds them all, new requests are refused", async () => {
    server = await startTestGateway();
    const file = join(server.dataDir, "headroom.db");
    const before = await send(server);
    assert.equal(before.status, 200);
    rmSync(file);

    // The open connection still writes the deleted file; the gateway notices at the next commit.
    const stream = await postMessages(server, { ...body, stream: true });
    assert.equal(stream.status, 200);
    const events = await readSse(stream);
    assert.equal(events.at(-1)?.event, "message_stop", "the stream in flight ends normally: its row is kept");
    const streamed = stream.headers.get("request-id") as string;

    assert.match(
      server.gateway.ledger.unavailable ?? "",
      /was deleted or replaced while serving; every row is in .*headroom\.db\.recovered/,
    );
    const refused = await send(server);
    assert.equal(refused.status, 503);
    assert.match(refused.json.error?.message ?? "", /Usage cannot be recorded right now/);

    const copy = `${file}.recovered`;
    assert.ok(existsSync(copy), "the copy is written beside the path");
    const ids = [before.requestId as string, streamed];
    assert.deepEqual(
      [...rowsIn(copy, ids)].sort(),
      [...ids].sort(),
      "the copy holds the rows before and after",
    );
  });
});
