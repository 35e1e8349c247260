/**
 * The usage ledger: events/s sustained and the latency a response's end waits for its row to
 * be durable (`record` until it resolves), on SQLite and PostgreSQL, with many responses ending
 * at once. Beside each, the naive way — one INSERT per event, committed on its own — on the
 * same database in the same run. Targets (issue 12): ≥ 20,000 events/s on SQLite, ≥ 10,000 on
 * PostgreSQL, p99 ≤ 5 ms. `npm run bench ledger`; PostgreSQL from DATABASE_URL.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { UsageEvent } from "../src/ledger/usage-event.ts";
import { openStores } from "../src/stores/open-stores.ts";
import { connectionConfig } from "../src/stores/postgres.ts";
import { openDatabase } from "../src/stores/sqlite.ts";
import type { Stores } from "../src/stores/store.ts";
import { compare, type Measurement, measure } from "./measure.ts";

const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://127.0.0.1:5432/test";
const IN_FLIGHT = 256;
let sequence = 0;
const event = (): UsageEvent => ({
  at_ms: Date.now(),
  request_id: `req_bench_${process.pid}_${sequence++}`,
  account: `account-${sequence % 1000}`,
  key_id: `key_${sequence % 1000}`,
  model: "claude-sonnet-4-6",
  endpoint: "anthropic",
  streamed: true,
  status: 200,
  error_type: null,
  stop_reason: "end_turn",
  input_tokens: 1_200,
  output_tokens: 300,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 40_000,
  cache_creation_1h_input_tokens: 0,
  ttft_ms: 412.5,
  duration_ms: 4_210.25,
  on_credits: false,
  limited_by: null,
  billing: "full",
});

/**
 * Responses ending at a steady `perSecond` (an open loop: arrivals do not wait for earlier
 * records), for `seconds`: the latency each waits for its row, p50 and p99 in ms.
 */
async function atRate(record: () => Promise<unknown>, perSecond: number, seconds: number) {
  const latencies: number[] = [];
  const pending: Array<Promise<unknown>> = [];
  const started = performance.now();
  let issued = 0;
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * perSecond);
    for (; issued < due; issued++) {
      const at = performance.now();
      pending.push(record().then(() => latencies.push(performance.now() - at)));
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), count: latencies.length };
}

async function verdict(
  label: string,
  result: Measurement,
  eventsTarget: number,
  record: () => Promise<unknown>,
): Promise<string> {
  const throughput = result.opsPerSecond >= eventsTarget ? "met" : "MISSED";
  const parts = [
    `${label}: ${Math.round(result.opsPerSecond).toLocaleString("en-US")} events/s sustained (target ≥ ${eventsTarget.toLocaleString("en-US")}: ${throughput})`,
  ];
  for (const rate of [1_000, 5_000]) {
    const steady = await atRate(record, rate, 3);
    const p99 = steady.p99 <= 5 ? "met" : "MISSED";
    parts.push(
      `  at a steady ${rate.toLocaleString("en-US")} responses/s a response's end waits p50 ${steady.p50.toFixed(2)} ms, p99 ${steady.p99.toFixed(2)} ms for its row (target ≤ 5 ms: ${p99})`,
    );
  }
  return parts.join("\n");
}

const lines: string[] = [];
const options = { concurrency: IN_FLIGHT, durationMs: 3_000, warmupMs: 500, sampleEvery: 1 };

// SQLite: the gateway's ledger, and one autocommitted INSERT per event on the same file.
{
  const dir = mkdtempSync(join(tmpdir(), "headroom-ledger-bench-"));
  const stores: Stores = await openStores({ dataDir: dir, env: {}, server: true });
  const ours = await measure("headroom", () => stores.ledger.record(event()), options);
  const db = openDatabase(join(dir, "naive"));
  const insert = db.prepare(
    `insert into usage_events (at_ms, request_id, account, key_id, model, endpoint, streamed, status, input_tokens,
       output_tokens, cache_creation_input_tokens, cache_read_input_tokens, duration_ms)
     values (@at_ms, @request_id, @account, @key_id, @model, @endpoint, 1, @status, @input_tokens, @output_tokens,
       @cache_creation_input_tokens, @cache_read_input_tokens, @duration_ms)`,
  );
  const naive = await measure("INSERT per event", async () => insert.run(event()), options);
  lines.push(compare(`SQLite, ${IN_FLIGHT} responses ending at once`, ours, naive));
  lines.push(await verdict("SQLite", ours, 20_000, () => stores.ledger.record(event())));
  await stores.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
}

// PostgreSQL, in a schema of its own, dropped after.
{
  const schema = `hrbench_${process.pid}`;
  let stores: Stores | undefined;
  try {
    stores = await openStores({ dataDir: tmpdir(), env: { DATABASE_URL, HEADROOM_DATABASE_SCHEMA: schema } });
  } catch (error) {
    lines.push(`PostgreSQL: skipped, not reachable at ${DATABASE_URL} (${(error as Error).message})`);
  }
  if (stores) {
    const ours = await measure("headroom", () => (stores as Stores).ledger.record(event()), options);
    const pool = new pg.Pool({
      ...connectionConfig(DATABASE_URL),
      max: 10,
      options: `-c search_path=${schema}`,
    });
    await pool.query(`create table ${schema}.bench_floor (at bigint)`);
    const naive = await measure(
      "INSERT per event (pool of 10)",
      () => {
        const e = event();
        return pool.query(
          `insert into usage_events (at_ms, request_id, account, key_id, model, endpoint, streamed, status, input_tokens,
             output_tokens, cache_creation_input_tokens, cache_read_input_tokens, duration_ms)
           values ($1, $2, $3, $4, $5, $6, true, $7, $8, $9, $10, $11, $12)`,
          [
            e.at_ms,
            e.request_id,
            e.account,
            e.key_id,
            e.model,
            e.endpoint,
            e.status,
            e.input_tokens,
            e.output_tokens,
            e.cache_creation_input_tokens,
            e.cache_read_input_tokens,
            e.duration_ms,
          ],
        );
      },
      options,
    );
    lines.push(compare(`PostgreSQL, ${IN_FLIGHT} responses ending at once`, ours, naive));
    // The floor this machine sets: one tiny committed INSERT per event at the same steady rate.
    const floor = await atRate(
      () => pool.query(`insert into ${schema}.bench_floor (at) values ($1)`, [Date.now()]),
      1_000,
      3,
    );
    lines.push(
      `PostgreSQL floor, one-row INSERT at a steady 1,000/s: p50 ${floor.p50.toFixed(2)} ms, p99 ${floor.p99.toFixed(2)} ms`,
    );
    lines.push(await verdict("PostgreSQL", ours, 10_000, () => (stores as Stores).ledger.record(event())));
    await stores.close();
    await pool.query(`drop schema if exists ${schema} cascade`);
    await pool.end();
  }
}

console.log(lines.join("\n"));
