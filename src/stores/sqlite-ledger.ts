/**
 * The usage ledger in SQLite with group commit: events queue in memory and are written in one
 * transaction every `flushIntervalMs` or when `batchSize` are waiting, so a busy gateway does
 * one fsync per batch instead of one per request. close() writes whatever is queued.
 */
import type { Ledger, UsageEvent, UsageSummaryRow } from "../ledger/usage-event.ts";
import type { SqliteDatabase } from "./sqlite.ts";

const COLUMNS = [
  "at_ms",
  "request_id",
  "account",
  "key_id",
  "model",
  "endpoint",
  "streamed",
  "status",
  "error_type",
  "stop_reason",
  "input_tokens",
  "output_tokens",
  "cache_creation_input_tokens",
  "cache_read_input_tokens",
  "ttft_ms",
  "duration_ms",
  "on_credits",
] as const;

export class SqliteLedger implements Ledger {
  private queue: UsageEvent[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly writeBatch: (events: UsageEvent[]) => void;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: { flushIntervalMs?: number; batchSize?: number } = {},
  ) {
    const insert = db.prepare(
      `insert into usage_events (${COLUMNS.join(", ")}) values (${COLUMNS.map((c) => `@${c}`).join(", ")})`,
    );
    this.writeBatch = db.transaction((events: UsageEvent[]) => {
      for (const event of events) {
        insert.run({ ...event, streamed: event.streamed ? 1 : 0, on_credits: event.on_credits ? 1 : 0 });
      }
    });
    this.timer = setInterval(() => this.flushNow(), options.flushIntervalMs ?? 200);
    this.timer.unref();
  }

  append(event: UsageEvent): void {
    this.queue.push(event);
    if (this.queue.length >= (this.options.batchSize ?? 512)) this.flushNow();
  }

  private flushNow(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    try {
      this.writeBatch(batch);
    } catch (error) {
      // Keep the events for the next attempt rather than lose them (e.g. SQLITE_BUSY).
      this.queue = batch.concat(this.queue);
      throw error;
    }
  }

  async flush(): Promise<void> {
    this.flushNow();
  }

  async summary(filter: { account?: string; sinceMs?: number } = {}): Promise<UsageSummaryRow[]> {
    this.flushNow();
    const where: string[] = ["account is not null"];
    const params: unknown[] = [];
    if (filter.account) {
      where.push("account = ?");
      params.push(filter.account);
    }
    if (filter.sinceMs !== undefined) {
      where.push("at_ms >= ?");
      params.push(filter.sinceMs);
    }
    return this.db
      .prepare<unknown[], UsageSummaryRow>(
        `select account, coalesce(model, '-') as model, count(*) as requests,
                sum(case when status >= 400 then 1 else 0 end) as errors,
                sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
                sum(cache_creation_input_tokens) as cache_creation_input_tokens,
                sum(cache_read_input_tokens) as cache_read_input_tokens
           from usage_events where ${where.join(" and ")}
          group by account, model order by account, model`,
      )
      .all(...params);
  }

  async events(filter: { account?: string; limit?: number } = {}): Promise<UsageEvent[]> {
    this.flushNow();
    const rows = this.db
      .prepare<
        unknown[],
        Omit<UsageEvent, "streamed" | "on_credits"> & { streamed: number; on_credits: number }
      >(
        `select ${COLUMNS.join(", ")} from usage_events ${filter.account ? "where account = ?" : ""}
          order by id desc limit ?`,
      )
      .all(...(filter.account ? [filter.account] : []), filter.limit ?? 100);
    return rows.map((row) => ({ ...row, streamed: row.streamed === 1, on_credits: row.on_credits === 1 }));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flushNow();
  }
}
