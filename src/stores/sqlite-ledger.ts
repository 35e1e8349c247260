/**
 * The usage ledger in SQLite with group commit: events recorded in the same turn of the event
 * loop are written in one transaction at the end of that turn, and each `record` resolves when
 * its transaction has committed. A busy gateway thus pays one commit per batch, and a response
 * waits well under a millisecond for its row (docs/ledger.md). Rows are unique by request id:
 * a repeated write is ignored.
 *
 * If a write fails (disk full, the file read-only or locked past busy_timeout) the events stay
 * queued and are retried, the responses waiting on them fail (their promise rejects: a
 * response whose row is not durable never reaches its last byte), and `unavailable` says why
 * until a retry succeeds, so the edge serves nothing new meanwhile. The database file deleted
 * or replaced under the open connection is caught before each commit: the connection still
 * writes the old file, so every row is kept, and a copy of it is written beside the path for
 * the operator to put back (docs/ledger.md).
 */
import { renameSync, rmSync, statSync } from "node:fs";
import type { Logger } from "pino";
import type { EventFilter, Ledger, UsageEvent, UsageSummaryRow } from "../ledger/usage-event.ts";
import { ledgerWhere } from "./ledger-filter.ts";
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
  "cache_creation_1h_input_tokens",
  "ttft_ms",
  "duration_ms",
  "on_credits",
  "billing",
  "limited_by",
] as const;

type Row = Omit<UsageEvent, "streamed" | "on_credits"> & { streamed: number; on_credits: number };

/** Device and inode: what a path's file is, to tell it from a file put in its place. */
function identityOf(file: string): string | undefined {
  try {
    const stat = statSync(file);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

const fromRow = (row: Row): UsageEvent => ({
  ...row,
  streamed: row.streamed === 1,
  on_credits: row.on_credits === 1,
});

/** Retry delay after a failed write. */
const RETRY_MS = 100;

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/** A row could not be made durable: the store refuses writes (why, in the message). */
export class LedgerUnavailableError extends Error {
  override name = "LedgerUnavailableError";
}

/** The operator's reading of a failed write: what is wrong with the store, and what to do. */
function describeFailure(error: unknown, file: string | undefined): string {
  const code = (error as { code?: string }).code ?? "";
  const where = file ?? "the database";
  if (code === "SQLITE_FULL")
    return `the disk holding ${where} is full: free space; writes resume on their own`;
  if (code.startsWith("SQLITE_READONLY"))
    return `${where} is read-only: make it and its directory writable; writes resume on their own`;
  if (code.startsWith("SQLITE_IOERR"))
    return `${where} cannot be written (I/O error ${code}); writes are retried`;
  if (code === "SQLITE_BUSY")
    return `${where} is locked by another process past busy_timeout; writes are retried`;
  return `${where} refused a write (${error instanceof Error ? error.message : String(error)}); writes are retried`;
}

export class SqliteLedger implements Ledger {
  private queue: UsageEvent[] = [];
  private waiters: Waiter[] = [];
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private failure: string | undefined;
  private readonly writeBatch: (events: UsageEvent[]) => void;
  /** The database file's identity when opened, to notice it deleted or replaced while serving. */
  private readonly fileId: string | undefined;
  private readonly recoveredCopy: string | undefined;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly logger?: Pick<Logger, "error" | "info">,
    /** Events kept while writes fail before the edge refuses new requests. */
    readonly maxBuffered = 100_000,
    /** The database file, where the ledger should watch it (a serving gateway). */
    private readonly file?: string,
  ) {
    this.fileId = file === undefined ? undefined : identityOf(file);
    this.recoveredCopy = file === undefined ? undefined : `${file}.recovered`;
    const insert = db.prepare(
      `insert into usage_events (${COLUMNS.join(", ")}) values (${COLUMNS.map((c) => `@${c}`).join(", ")})
       on conflict (request_id) do nothing`,
    );
    this.writeBatch = db.transaction((events: UsageEvent[]) => {
      for (const event of events) {
        insert.run({ ...event, streamed: event.streamed ? 1 : 0, on_credits: event.on_credits ? 1 : 0 });
      }
    });
  }

  /** How many events wait to be written. */
  get pending(): number {
    return this.queue.length;
  }

  get saturated(): boolean {
    return this.queue.length >= this.maxBuffered;
  }

  /** Why rows cannot be made durable now; undefined while writes succeed. */
  get unavailable(): string | undefined {
    return this.failure;
  }

  record(event: UsageEvent): Promise<void> {
    this.queue.push(event);
    const durable = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.scheduled ??= setImmediate(this.commit);
    return durable;
  }

  private readonly commit = (): void => {
    this.scheduled = undefined;
    this.writeNow();
  };

  /** Writes everything queued in one transaction; on failure keeps it queued and retries. */
  private writeNow(): boolean {
    const waiters = this.waiters;
    this.waiters = [];
    if (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        this.writeBatch(batch);
      } catch (error) {
        this.queue = batch.concat(this.queue);
        this.fail(describeFailure(error, this.file), error);
        this.scheduled ??= setTimeout(this.commit, RETRY_MS);
        const refusal = new LedgerUnavailableError(`usage could not be recorded: ${this.failure}`);
        for (const waiter of waiters) waiter.reject(refusal);
        return false;
      }
      if (!this.fileStillThere()) {
        // The rows are in the open (deleted or replaced) file; the copy beside the path holds them.
        for (const waiter of waiters) waiter.resolve();
        return false;
      }
      if (this.failure !== undefined) this.logger?.info({ events: batch.length }, "ledger writes recovered");
      this.failure = undefined;
    }
    for (const waiter of waiters) waiter.resolve();
    return true;
  }

  private fail(reason: string, error?: unknown): void {
    if (this.failure !== reason)
      this.logger?.error({ err: error, pending: this.queue.length }, `ledger write failed: ${reason}`);
    this.failure = reason;
  }

  /**
   * Whether the path still names the file this connection writes. When it does not, the
   * connection's file is copied beside the path after every commit (the copy is whole and
   * consistent: SQLite's VACUUM INTO), so nothing written is lost when the gateway stops.
   */
  private fileStillThere(): boolean {
    if (this.file === undefined || this.recoveredCopy === undefined) return true;
    if (identityOf(this.file) === this.fileId) return true;
    const copy = this.recoveredCopy;
    const partial = `${copy}.partial`;
    try {
      rmSync(partial, { force: true });
      this.db.prepare("vacuum into ?").run(partial);
      renameSync(partial, copy);
      this.fail(
        `${this.file} was deleted or replaced while serving; every row is in ${copy}: stop the gateway, move that copy to ${this.file} and start it again`,
      );
    } catch (error) {
      this.fail(
        `${this.file} was deleted or replaced while serving, and ${copy} could not be written`,
        error,
      );
    }
    return false;
  }

  async flush(): Promise<void> {
    if (this.scheduled) {
      clearImmediate(this.scheduled as NodeJS.Immediate);
      clearTimeout(this.scheduled as NodeJS.Timeout);
      this.scheduled = undefined;
    }
    if (!this.writeNow() && this.queue.length > 0)
      throw new Error(`The ledger could not write ${this.queue.length} events: ${this.failure}.`);
  }

  async summary(filter: { account?: string; sinceMs?: number } = {}): Promise<UsageSummaryRow[]> {
    await this.flush();
    const { where, params } = ledgerWhere(filter, () => "?", ["account is not null"]);
    return this.db
      .prepare<unknown[], UsageSummaryRow>(
        `select account, coalesce(model, '-') as model, count(*) as requests,
                sum(case when status >= 400 then 1 else 0 end) as errors,
                sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
                sum(cache_creation_input_tokens) as cache_creation_input_tokens,
                sum(cache_read_input_tokens) as cache_read_input_tokens
           from usage_events ${where}
          group by account, model order by account, model`,
      )
      .all(...params);
  }

  async recorded(requestIds: readonly string[]): Promise<Set<string>> {
    if (requestIds.length === 0) return new Set();
    const rows = this.db
      .prepare<string[], { request_id: string }>(
        `select request_id from usage_events where request_id in (${requestIds.map(() => "?").join(", ")})`,
      )
      .all(...requestIds);
    return new Set(rows.map((row) => row.request_id));
  }

  async events(filter: EventFilter = {}): Promise<UsageEvent[]> {
    await this.flush();
    const { where, params } = ledgerWhere(filter, () => "?");
    const rows = this.db
      .prepare<unknown[], Row>(
        `select ${COLUMNS.join(", ")} from usage_events ${where}
          order by at_ms desc, id desc limit ?`,
      )
      .all(...params, filter.limit ?? 100);
    return rows.map(fromRow);
  }

  /**
   * Pages of rows in time order. No statement stays open between pages, so the caller may use
   * the same connection while it goes through them (a SQLite connection runs one at a time).
   */
  *replay(
    sinceMs: number,
    filter: { account?: string | undefined } = {},
    pageSize = 5_000,
  ): Iterable<UsageEvent> {
    const page = this.db.prepare<unknown[], Row & { id: number }>(
      `select id, ${COLUMNS.join(", ")} from usage_events
        where ${filter.account ? "account = ?" : "account is not null"} and (at_ms > ? or (at_ms = ? and id > ?))
        order by at_ms, id limit ?`,
    );
    const account = filter.account ? [filter.account] : [];
    let afterAt = sinceMs - 1;
    let afterId = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const rows = page.all(...account, afterAt, afterAt, afterId, pageSize);
      for (const { id: _id, ...row } of rows) yield fromRow(row);
      const last = rows.at(-1);
      if (!last || rows.length < pageSize) return;
      afterAt = last.at_ms;
      afterId = last.id;
    }
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
