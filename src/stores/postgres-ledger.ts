/**
 * The usage ledger in PostgreSQL. Group commit as in SQLite: events recorded while a write is
 * on its way go together in the next one (one INSERT … SELECT FROM unnest(…) per batch, one
 * round trip), and each `record` resolves when its batch has committed. Rows are unique by
 * request id (ON CONFLICT DO NOTHING), so retrying a batch whose answer was lost never counts
 * twice.
 *
 * When PostgreSQL is unreachable the gateway keeps serving: events stay buffered in memory (up
 * to `maxBuffered`; `saturated` then tells the edge to refuse new work rather than lose any),
 * the waiting responses are released with one log line per outage, and the buffer is written
 * with retries until PostgreSQL answers again.
 */
import type pg from "pg";
import type { Logger } from "pino";
import type { EventFilter, Ledger, UsageEvent, UsageSummaryRow } from "../ledger/usage-event.ts";
import { ledgerWhere } from "./ledger-filter.ts";

const COLUMNS = [
  ["at_ms", "bigint"],
  ["request_id", "text"],
  ["account", "text"],
  ["key_id", "text"],
  ["model", "text"],
  ["endpoint", "text"],
  ["streamed", "boolean"],
  ["status", "integer"],
  ["error_type", "text"],
  ["stop_reason", "text"],
  ["input_tokens", "bigint"],
  ["output_tokens", "bigint"],
  ["cache_creation_input_tokens", "bigint"],
  ["cache_read_input_tokens", "bigint"],
  ["cache_creation_1h_input_tokens", "bigint"],
  ["ttft_ms", "double precision"],
  ["duration_ms", "double precision"],
  ["on_credits", "boolean"],
  ["billing", "text"],
  ["limited_by", "text"],
] as const satisfies ReadonlyArray<readonly [keyof UsageEvent, string]>;

const NAMES = COLUMNS.map(([name]) => name).join(", ");
const INSERT = `insert into usage_events (${NAMES})
  select * from unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")})
  on conflict (request_id) do nothing`;

const RETRY_MIN_MS = 100;
/** Batches written at once: a few connections of the pool, the rest left to other queries. */
const MAX_WRITERS = 4;
const RETRY_MAX_MS = 5_000;

export class PostgresLedger implements Ledger {
  private queue: UsageEvent[] = [];
  private waiters: Array<() => void> = [];
  /** Batches on their way, and the events in them. */
  private writers = 0;
  private inFlight = 0;
  /** flush() calls waiting for every writer to finish. */
  private idle: Array<() => void> = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private failing = false;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger?: Pick<Logger, "error" | "info" | "warn">,
    /** Events kept while PostgreSQL is down before the edge refuses new requests. */
    readonly maxBuffered = 100_000,
  ) {}

  /** Events recorded but not yet written (queued, or in the write on its way). */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Whether the buffer is full: new requests must wait until the store is back. */
  get saturated(): boolean {
    return this.pending >= this.maxBuffered;
  }

  /** PostgreSQL outages are buffered (bounded, `saturated`), not refused: see docs/ledger.md. */
  get unavailable(): undefined {
    return undefined;
  }

  record(event: UsageEvent): Promise<void> {
    this.queue.push(event);
    const durable = new Promise<void>((resolve) => this.waiters.push(resolve));
    // During an outage the response goes on; the event waits in the buffer for the retry.
    if (this.failing) this.releaseWaiters();
    else this.kick();
    return durable;
  }

  private releaseWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Starts writers for what is queued, up to MAX_WRITERS at once: events that arrive while a
   * batch is on its way leave in the next one at once instead of queueing behind it.
   */
  private kick(): void {
    while (!this.failing && this.writers < MAX_WRITERS && this.queue.length > 0) void this.writeBatch();
  }

  /** Writes everything queued in one INSERT; on failure puts it back and schedules a retry. */
  private async writeBatch(): Promise<void> {
    const batch = this.queue;
    const waiters = this.waiters;
    this.queue = [];
    this.waiters = [];
    this.writers++;
    this.inFlight += batch.length;
    try {
      // Named: prepared once per connection, so PostgreSQL plans it once, not per batch.
      await this.pool.query({
        name: "headroom-ledger-insert",
        text: INSERT,
        values: COLUMNS.map(([name]) => batch.map((event) => event[name])),
      });
      for (const resolve of waiters) resolve();
      if (this.failing) {
        this.failing = false;
        this.retryMs = RETRY_MIN_MS;
        this.logger?.info(
          { written: batch.length, pending: this.queue.length },
          "ledger store is back; buffered events written",
        );
      }
    } catch (error) {
      this.queue = batch.concat(this.queue);
      this.waiters = waiters.concat(this.waiters);
      this.outage(error);
    } finally {
      this.writers--;
      this.inFlight -= batch.length;
      this.kick();
      if (this.writers === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  private outage(error: unknown): void {
    if (!this.failing) {
      this.logger?.error(
        { err: (error as Error).message, pending: this.pending },
        "ledger store unavailable: buffering usage events in memory until it is back",
      );
    }
    this.failing = true;
    this.releaseWaiters();
    if (this.closed || this.retryTimer) return;
    // One writer probes with the whole buffer; when it gets through, the others follow.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.writers === 0 && this.queue.length > 0) void this.writeBatch();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  private whenIdle(): Promise<void> {
    return this.writers === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  async flush(): Promise<void> {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    await this.whenIdle();
    if (this.queue.length > 0) {
      void this.writeBatch();
      await this.whenIdle();
    }
    if (this.queue.length > 0) throw new Error(`The ledger could not write ${this.queue.length} events.`);
  }

  async summary(filter: { account?: string; sinceMs?: number } = {}): Promise<UsageSummaryRow[]> {
    await this.flush();
    const { where, params } = ledgerWhere(filter, (n) => `$${n}`, ["account is not null"]);
    const { rows } = await this.pool.query<UsageSummaryRow>(
      `select account, coalesce(model, '-') as model, count(*)::bigint as requests,
              sum(case when status >= 400 then 1 else 0 end)::bigint as errors,
              sum(input_tokens)::bigint as input_tokens, sum(output_tokens)::bigint as output_tokens,
              sum(cache_creation_input_tokens)::bigint as cache_creation_input_tokens,
              sum(cache_read_input_tokens)::bigint as cache_read_input_tokens
         from usage_events ${where}
        group by account, model order by account, model`,
      params,
    );
    return rows;
  }

  async recorded(requestIds: readonly string[]): Promise<Set<string>> {
    if (requestIds.length === 0) return new Set();
    const { rows } = await this.pool.query<{ request_id: string }>(
      "select request_id from usage_events where request_id = any($1)",
      [requestIds],
    );
    return new Set(rows.map((row) => row.request_id));
  }

  async events(filter: EventFilter = {}): Promise<UsageEvent[]> {
    await this.flush();
    const { where, params } = ledgerWhere(filter, (n) => `$${n}`);
    params.push(filter.limit ?? 100);
    const { rows } = await this.pool.query<UsageEvent>(
      `select ${NAMES} from usage_events ${where}
        order by at_ms desc, id desc limit $${params.length}`,
      params,
    );
    return rows;
  }

  async *replay(
    sinceMs: number,
    filter: { account?: string | undefined } = {},
    pageSize = 5_000,
  ): AsyncIterable<UsageEvent> {
    let afterAt = sinceMs - 1;
    let afterId = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const params: unknown[] = [afterAt, afterId, pageSize];
      if (filter.account) params.push(filter.account);
      const { rows } = await this.pool.query<UsageEvent & { id: number }>(
        `select id, ${NAMES} from usage_events
          where ${filter.account ? "account = $4" : "account is not null"}
            and (at_ms > $1 or (at_ms = $1 and id > $2))
          order by at_ms, id limit $3`,
        params,
      );
      for (const { id: _id, ...row } of rows) yield row;
      const last = rows.at(-1);
      if (!last || rows.length < pageSize) return;
      afterAt = last.at_ms;
      afterId = last.id;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}
