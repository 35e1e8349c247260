/**
 * `headroom usage`: reports priced by the policy in force when each request was served, the
 * ledger's rows one by one, and clear errors. Costs here are worked out by hand from the
 * default policy's Sonnet prices ($/MTok: input 3, output 15, 5-minute cache write 3.75,
 * 1-hour cache write 2 × input = 6, cache read 0.3) and a dated policy that doubles output.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { UsageEvent } from "../../src/ledger/usage-event.ts";
import { defaultPolicy } from "../../src/plans/default-policy.ts";
import { openDatabase } from "../../src/stores/sqlite.ts";
import { SqliteLedger } from "../../src/stores/sqlite-ledger.ts";
import { SqlitePolicyStore } from "../../src/stores/sqlite-policies.ts";
import { runCli } from "../helpers/cli.ts";

const event = (overrides: Partial<UsageEvent>): UsageEvent => ({
  at_ms: 0,
  request_id: "req",
  account: "alice",
  key_id: "key_a",
  model: "claude-sonnet-4-6",
  endpoint: "anthropic",
  streamed: true,
  status: 200,
  error_type: null,
  stop_reason: "end_turn",
  input_tokens: 0,
  output_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_creation_1h_input_tokens: 0,
  cache_read_input_tokens: 0,
  ttft_ms: 10,
  duration_ms: 100,
  on_credits: false,
  limited_by: null,
  billing: "full",
  ...overrides,
});

describe("headroom usage", () => {
  let dir: string;
  const usage = (...args: string[]) => runCli(["usage", "--data-dir", dir, ...args]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "headroom-usage-"));
    const db = openDatabase(dir);
    const sonnet = defaultPolicy.model_classes.sonnet;
    assert.ok(sonnet);
    await new SqlitePolicyStore(db).applyAll([
      {
        ...defaultPolicy,
        version: "2026-05-06-dearer-output",
        effective_from: "2026-05-06T00:00:00Z",
        model_classes: { ...defaultPolicy.model_classes, sonnet: { ...sonnet, output: 30 } },
      },
    ]);
    const ledger = new SqliteLedger(db);
    await Promise.all([
      // 0.003 + 0.03 + 600 × 3.75e-6 + 400 × 6e-6 + 0.003 = $0.04065
      ledger.record(
        event({
          request_id: "req_1",
          at_ms: Date.parse("2026-05-05T10:00:00Z"),
          input_tokens: 1_000,
          output_tokens: 2_000,
          cache_creation_input_tokens: 1_000,
          cache_creation_1h_input_tokens: 400,
          cache_read_input_tokens: 10_000,
        }),
      ),
      // After the dated policy: 1,000 output tokens at $30/MTok = $0.03, on usage credits.
      ledger.record(
        event({
          request_id: "req_2",
          at_ms: Date.parse("2026-05-06T10:00:00Z"),
          output_tokens: 1_000,
          on_credits: true,
        }),
      ),
      // Another account, another key, a failed request that still produced 100 output tokens.
      ledger.record(
        event({
          request_id: "req_3",
          at_ms: Date.parse("2026-05-06T11:00:00Z"),
          account: "bob",
          key_id: "key_b",
          status: 502,
          error_type: "api_error",
          output_tokens: 100,
        }),
      ),
    ]);
    await ledger.close();
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("per account and day, each request priced by the policy of its day", async () => {
    const result = await usage("--by", "account,day", "--json");
    assert.equal(result.code, 0, result.stderr);
    const rows = JSON.parse(result.stdout);
    assert.deepEqual(
      rows.map((row: Record<string, unknown>) => [
        row.account,
        row.day,
        row.requests,
        row.errors,
        row.cost_usd,
        row.credits_usd,
      ]),
      [
        ["alice", "2026-05-05", 1, 0, 0.04065, 0],
        ["alice", "2026-05-06", 1, 0, 0.03, 0.03],
        ["bob", "2026-05-06", 1, 1, 0.003, 0],
      ],
    );
    assert.equal(rows[0].cache_creation_1h_input_tokens, 400);
  });

  test("per key, as CSV", async () => {
    const result = await usage("--by", "key", "--format", "csv");
    assert.equal(result.code, 0, result.stderr);
    const [header, ...lines] = result.stdout.trimEnd().split("\r\n");
    assert.equal(header?.split(",")[0], "key");
    const cost = header?.split(",").indexOf("cost_usd") ?? -1;
    assert.deepEqual(
      lines.map((line) => [line.split(",")[0], Number(line.split(",")[cost])]),
      [
        ["key_a", 0.07065],
        ["key_b", 0.003],
      ],
    );
  });

  test("--requests prints the ledger's rows, filtered by time and account", async () => {
    const result = await usage("--requests", "--since", "2026-05-06", "--account", "alice", "--json");
    assert.equal(result.code, 0, result.stderr);
    const rows = JSON.parse(result.stdout);
    assert.equal(rows.length, 1);
    assert.deepEqual(
      {
        request_id: rows[0].request_id,
        at: rows[0].at,
        account: rows[0].account,
        key_id: rows[0].key_id,
        status: rows[0].status,
        output_tokens: rows[0].output_tokens,
        cost_usd: rows[0].cost_usd,
        on_credits: rows[0].on_credits,
      },
      {
        request_id: "req_2",
        at: "2026-05-06T10:00:00.000Z",
        account: "alice",
        key_id: "key_a",
        status: 200,
        output_tokens: 1_000,
        cost_usd: 0.03,
        on_credits: true,
      },
    );
    const all = JSON.parse((await usage("--requests", "--json")).stdout);
    assert.deepEqual(
      all.map((row: { request_id: string }) => row.request_id),
      ["req_1", "req_2", "req_3"],
    );
    const until = JSON.parse((await usage("--requests", "--json", "--until", "2026-05-06T10:30:00Z")).stdout);
    assert.equal(until.length, 2);
  });

  test("a table by default, with the cost", async () => {
    const result = await usage();
    assert.match(
      result.stdout,
      /account\s+model\s+requests\s+errors\s+input\s+output\s+cache write\s+cache read\s+cost/,
    );
    assert.match(result.stdout, /alice\s+claude-sonnet-4-6\s+2\s+0\s+1000\s+3000\s+1000\s+10000\s+\$0\.07/);
  });

  test("bad options are one clear line, not a stack trace", async () => {
    for (const [args, message] of [
      [["--since", "yesterday"], /--since takes an ISO 8601 date/],
      [["--by", "account,colour"], /--by takes a list of account, key, model, day; got "colour"/],
      [["--format", "xml"], /--format takes table, csv or json/],
      [["--requests"], /--requests prints --json or --format csv/],
    ] as const) {
      const result = await usage(...args);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    }
  });
});
