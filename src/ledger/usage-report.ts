/**
 * Usage reports from the ledger: each row priced with the policy in force when it was served
 * (its model class's prices; 5-minute and 1-hour cache writes at their own rates), then
 * grouped by any of account, key, model and day. Pure: rows and a pricer in, rows out.
 */
import { classFor } from "../plans/plan-limits.ts";
import type { Policy } from "../plans/schema.ts";
import { UNITS_PER_USD, unitPrices, usageUnits } from "../plans/usage-units.ts";
import { chargedTokens } from "./billing.ts";
import type { UsageEvent } from "./usage-event.ts";

/** The dollar cost of a ledger row. */
export type Pricer = (event: UsageEvent) => number;

export function pricer(
  policyAt: (ms: number) => Policy,
  familyOf: (model: string) => string | undefined,
): Pricer {
  return (event) => {
    if (!event.model) return 0;
    const policy = policyAt(event.at_ms);
    // A model the catalog no longer knows is priced as its id's family would be, or the dearest class.
    const family = familyOf(event.model) ?? event.model;
    const [, modelClass] = classFor(policy, family);
    // What the row was charged: a service failure nothing (or its delivered output).
    return usageUnits(unitPrices(modelClass), chargedTokens(event, event.billing ?? "full")) / UNITS_PER_USD;
  };
}

export const GROUPINGS = ["account", "key", "model", "day"] as const;
export type Grouping = (typeof GROUPINGS)[number];

export interface ReportRow {
  account?: string;
  key?: string;
  model?: string;
  day?: string;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_creation_1h_input_tokens: number;
  cache_read_input_tokens: number;
  cost_usd: number;
  credits_usd: number;
}

function groupValue(event: UsageEvent, by: Grouping): string {
  switch (by) {
    case "account":
      return event.account ?? "-";
    case "key":
      return event.key_id ?? "-";
    case "model":
      return event.model ?? "-";
    case "day":
      return new Date(event.at_ms).toISOString().slice(0, 10);
  }
}

/** Sums rows per group, in the order of `by`, groups sorted by their values. */
export async function summarize(
  events: Iterable<UsageEvent> | AsyncIterable<UsageEvent>,
  by: readonly Grouping[],
  price: Pricer,
): Promise<ReportRow[]> {
  const groups = new Map<string, ReportRow>();
  for await (const event of events) {
    const values = by.map((grouping) => groupValue(event, grouping));
    const id = values.join("\u0000");
    let row = groups.get(id);
    if (!row) {
      row = {
        requests: 0,
        errors: 0,
        input_tokens: 0,
        output_tokens: 0,
        cache_creation_input_tokens: 0,
        cache_creation_1h_input_tokens: 0,
        cache_read_input_tokens: 0,
        cost_usd: 0,
        credits_usd: 0,
      };
      by.forEach((grouping, i) => {
        (row as ReportRow)[grouping] = values[i];
      });
      groups.set(id, row);
    }
    row.requests++;
    if (event.status >= 400) row.errors++;
    row.input_tokens += event.input_tokens;
    row.output_tokens += event.output_tokens;
    row.cache_creation_input_tokens += event.cache_creation_input_tokens;
    row.cache_creation_1h_input_tokens += event.cache_creation_1h_input_tokens;
    row.cache_read_input_tokens += event.cache_read_input_tokens;
    const cost = price(event);
    row.cost_usd += cost;
    if (event.on_credits) row.credits_usd += cost;
  }
  const rows = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
  for (const row of rows) {
    row.cost_usd = roundUsd(row.cost_usd);
    row.credits_usd = roundUsd(row.credits_usd);
  }
  return rows;
}

/** To the hundred-millionth of a dollar, the ledger's own resolution (one usage unit). */
const roundUsd = (usd: number) => Math.round(usd * UNITS_PER_USD) / UNITS_PER_USD;

/** A ledger row as `headroom usage --requests` prints it. */
export interface RequestRow {
  request_id: string;
  at: string;
  account: string | null;
  key_id: string | null;
  model: string | null;
  endpoint: string;
  status: number;
  error_type: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_creation_1h_input_tokens: number;
  cache_read_input_tokens: number;
  cost_usd: number;
  on_credits: boolean;
}

export function requestRow(event: UsageEvent, price: Pricer): RequestRow {
  return {
    request_id: event.request_id,
    at: new Date(event.at_ms).toISOString(),
    account: event.account,
    key_id: event.key_id,
    model: event.model,
    endpoint: event.endpoint,
    status: event.status,
    error_type: event.error_type,
    input_tokens: event.input_tokens,
    output_tokens: event.output_tokens,
    cache_creation_input_tokens: event.cache_creation_input_tokens,
    cache_creation_1h_input_tokens: event.cache_creation_1h_input_tokens,
    cache_read_input_tokens: event.cache_read_input_tokens,
    cost_usd: roundUsd(price(event)),
    on_credits: event.on_credits,
  };
}

/** RFC 4180 CSV: fields with commas, quotes or line breaks are quoted. */
export function toCsv(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string {
  const cell = (value: unknown) => {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns.join(","), ...rows.map((row) => columns.map((column) => cell(row[column])).join(","))]
    .map((line) => `${line}\r\n`)
    .join("");
}
