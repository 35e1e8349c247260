/**
 * One request's usage as the ledger records it: the record of what was served, for usage
 * reports, billing, and the limiter's long windows, which are rebuilt from it at start.
 *
 * The promise (docs/ledger.md): a response whose last byte reached the client has its usage
 * durably recorded exactly once. The gateway awaits `record` before it releases a response's
 * final event or byte, and rows are keyed by request id, so a repeated write never counts twice.
 */
import type { Billing } from "./billing.ts";

export interface UsageEvent {
  at_ms: number;
  request_id: string;
  account: string | null;
  key_id: string | null;
  model: string | null;
  endpoint: "anthropic" | "openai";
  streamed: boolean;
  status: number;
  error_type: string | null;
  stop_reason: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** Of the cache writes, those kept for an hour. */
  cache_creation_1h_input_tokens: number;
  ttft_ms: number | null;
  duration_ms: number;
  /** Served past the subscription's limits on the account's usage credits (billed at API prices). */
  on_credits: boolean;
  /** How the row is charged to windows and bills (billing.ts): a service failure is not, by default. */
  billing: Billing;
  /** For a refusal (429): the limit that refused (`5h`, `week`, `rpm`, …); null otherwise. */
  limited_by: string | null;
}

export interface UsageSummaryRow {
  account: string;
  model: string;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export interface EventFilter {
  account?: string | undefined;
  /** Rows at or after this instant (ms since epoch). */
  sinceMs?: number | undefined;
  limit?: number | undefined;
}

export interface Ledger {
  /** Events recorded but not yet written (buffered while the store is failing). */
  readonly pending: number;
  /** The buffer is full: new requests are refused until the store is back, so none is lost. */
  readonly saturated: boolean;
  /**
   * Why this store cannot make rows durable now (SQLite: the disk full, the file read-only,
   * deleted or replaced); undefined while it can. New requests are refused meanwhile, and
   * `record` rejects for rows that could not be written: their responses fail.
   */
  readonly unavailable: string | undefined;
  /**
   * Records an event; resolves once it is durable (written with others in one transaction,
   * a group commit). A second event with the same request id is ignored.
   */
  record(event: UsageEvent): Promise<void>;
  flush(): Promise<void>;
  /** Which of these request ids have a row (written, not merely buffered). */
  recorded(requestIds: readonly string[]): Promise<Set<string>>;
  summary(filter?: { account?: string; sinceMs?: number }): Promise<UsageSummaryRow[]>;
  /** The newest rows first. */
  events(filter?: EventFilter): Promise<UsageEvent[]>;
  /** Rows at or after `sinceMs` (of one account if given), oldest first: for rebuilding windows and reports. */
  replay(
    sinceMs: number,
    filter?: { account?: string | undefined },
  ): Iterable<UsageEvent> | AsyncIterable<UsageEvent>;
  close(): Promise<void>;
}
