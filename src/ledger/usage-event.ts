/**
 * One request's usage as the ledger records it: the record of what was served, for usage
 * reports and billing. (Limiter windows are not yet rebuilt from it at start: an in-memory
 * limiter begins empty after a restart.)
 */
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
  ttft_ms: number | null;
  duration_ms: number;
  /** Served past the subscription's limits on the account's usage credits (billed at API prices). */
  on_credits: boolean;
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

export interface Ledger {
  /** Queues an event; it is durable after the next flush (at most `flushIntervalMs` later). */
  append(event: UsageEvent): void;
  flush(): Promise<void>;
  summary(filter?: { account?: string; sinceMs?: number }): Promise<UsageSummaryRow[]>;
  events(filter?: { account?: string; limit?: number }): Promise<UsageEvent[]>;
  close(): Promise<void>;
}
