/**
 * The ledger under SIGKILL: a gateway serving concurrent JSON and streaming requests from SDK
 * clients is killed at random moments, 20 times, and restarted on the same data directory.
 * Every response a client received completely must then have exactly one row, with the tokens
 * the client was told. Kills wait for completions first, so a slow machine changes when they
 * land, never what is checked.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import Database from "better-sqlite3";
import OpenAI from "openai";
import { runCli, startServe, writeFastConfig } from "../helpers/cli.ts";
import { DATABASE_URL, dropSchema, inSchema, postgresSkipReason, uniqueSchema } from "../helpers/postgres.ts";
import { waitFor } from "../helpers/wait.ts";

const KILLS = 20;
const WORKERS = 8;

interface Completed {
  requestId: string;
  outputTokens: number;
}

interface Engine {
  name: string;
  env: NodeJS.ProcessEnv;
  /** Rows per request id as the engine's own client reads them. */
  rows(requestId: string): Promise<Array<{ status: number; output_tokens: number }>>;
  counts(): Promise<{ total: number; distinct: number }>;
}

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "headroom-crash-"));
  writeFastConfig(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** One request of the kind `n` picks; resolves with what the client saw if it saw all of it. */
async function oneRequest(url: string, key: string, n: number): Promise<Completed | null> {
  const tokens = 5 + (n % 40);
  const prompt = `sim:tokens=${tokens}`;
  if (n % 3 === 0) {
    const client = new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0 });
    const { data, response } = await client.messages
      .create({ model: "claude-sonnet-4-6", max_tokens: 256, messages: [{ role: "user", content: prompt }] })
      .withResponse();
    return { requestId: response.headers.get("request-id") ?? "", outputTokens: data.usage.output_tokens };
  }
  if (n % 3 === 1) {
    const client = new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0 });
    const { data: stream, response } = await client.messages
      .create({
        model: "claude-sonnet-4-6",
        max_tokens: 256,
        stream: true,
        messages: [{ role: "user", content: prompt }],
      })
      .withResponse();
    let output = -1;
    let stopped = false;
    for await (const event of stream) {
      if (event.type === "message_delta") output = event.usage.output_tokens;
      if (event.type === "message_stop") stopped = true;
    }
    return stopped ? { requestId: response.headers.get("request-id") ?? "", outputTokens: output } : null;
  }
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
  const { data: stream, response } = await client.chat.completions
    .create({
      model: "claude-sonnet-4-6",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: prompt }],
    })
    .withResponse();
  let output = -1;
  for await (const chunk of stream) if (chunk.usage) output = chunk.usage.completion_tokens;
  // The usage chunk comes last, just before [DONE]: without it the response was not complete.
  return output >= 0 ? { requestId: response.headers.get("x-request-id") ?? "", outputTokens: output } : null;
}

async function createKey(env: NodeJS.ProcessEnv): Promise<string> {
  const created = await runCli(
    ["keys", "create", "--account", "crash", "--plan", "api-tier-4", "--json", "--config", "fast.yaml"],
    { cwd: dir, env },
  );
  assert.equal(created.code, 0, created.stderr);
  return JSON.parse(created.stdout).key;
}

async function crashAndCheck(engine: Engine): Promise<void> {
  const key = await createKey(engine.env);
  const completed: Completed[] = [];
  let seed = 20261130;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let n = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const { child, url } = await startServe(["--port", "0", "--config", "fast.yaml"], {
      cwd: dir,
      env: engine.env,
    });
    let stop = false;
    const before = completed.length;
    const worker = async () => {
      while (!stop) {
        try {
          const done = await oneRequest(url, key, n++);
          if (done) completed.push(done);
        } catch {
          // Killed mid-request: the client did not receive this response completely.
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, worker);
    await waitFor(() => completed.length >= before + 5, "the gateway to complete some requests");
    // A random moment within the next stretch of requests.
    await new Promise((resolve) => setTimeout(resolve, random() * 150));
    child.kill("SIGKILL");
    stop = true;
    await Promise.all([once(child as ChildProcess, "exit"), ...workers]);
  }

  for (const response of completed) {
    assert.ok(response.requestId, "every response carries its request id");
    const found = await engine.rows(response.requestId);
    assert.equal(found.length, 1, `request ${response.requestId}: ${found.length} rows`);
    assert.equal(found[0]?.status, 200);
    assert.equal(found[0]?.output_tokens, response.outputTokens, `request ${response.requestId}'s tokens`);
  }
  const { total, distinct } = await engine.counts();
  assert.equal(total, distinct, "no request counted twice");
  assert.ok(completed.length >= KILLS * 5, `${completed.length} complete responses checked`);
}

describe(`every completely received response has exactly one ledger row after ${KILLS} SIGKILLs`, async () => {
  test("on SQLite", async () => {
    const file = () => new Database(join(dir, ".headroom", "headroom.db"), { readonly: true });
    await crashAndCheck({
      name: "SQLite",
      env: {},
      rows: async (requestId) => {
        const db = file();
        try {
          return db
            .prepare("select status, output_tokens from usage_events where request_id = ?")
            .all(requestId) as Array<{ status: number; output_tokens: number }>;
        } finally {
          db.close();
        }
      },
      counts: async () => {
        const db = file();
        try {
          return db
            .prepare('select count(*) as total, count(distinct request_id) as "distinct" from usage_events')
            .get() as { total: number; distinct: number };
        } finally {
          db.close();
        }
      },
    });
  });

  const skip = await postgresSkipReason();
  const schema = uniqueSchema("crash");
  after(() => (skip ? undefined : dropSchema(schema)));
  test("on PostgreSQL", { skip }, async () => {
    await crashAndCheck({
      name: "PostgreSQL",
      env: { DATABASE_URL, HEADROOM_DATABASE_SCHEMA: schema },
      rows: (requestId) =>
        inSchema<{ status: number; output_tokens: number }>(
          schema,
          "select status, output_tokens::int from usage_events where request_id = $1",
          [requestId],
        ),
      counts: async () => {
        const [row] = await inSchema<{ total: number; distinct: number }>(
          schema,
          "select count(*)::int as total, count(distinct request_id)::int as distinct from usage_events",
        );
        return row ?? { total: -1, distinct: -2 };
      },
    });
  });
});
