/**
 * `headroom usage`: what the ledger recorded, grouped by account, key, model and/or day, with
 * its cost from the prices of the policy in force when each request was served; or, with
 * --requests, the ledger's rows one by one. Table, CSV or JSON.
 */
import type { Command } from "commander";
import { loadFleetCapacity } from "../capacity/fleet-capacity.ts";
import { Enforcer } from "../enforcement/enforcer.ts";
import { explainWindow, type WindowExplanation } from "../enforcement/explain-window.ts";
import type { UsageEvent } from "../ledger/usage-event.ts";
import {
  GROUPINGS,
  type Grouping,
  pricer,
  type ReportRow,
  type RequestRow,
  requestRow,
  summarize,
  toCsv,
} from "../ledger/usage-report.ts";
import { ConstantCapacity } from "../plans/capacity-provider.ts";
import { PolicyBook } from "../plans/policy-book.ts";
import { MemoryLimiterStore } from "../stores/memory-limiter.ts";
import { ModelRouter } from "../upstreams/routing.ts";
import {
  configFor,
  formatTable,
  type StateOptions,
  UsageError,
  withStateOptions,
  withStores,
} from "./options.ts";

interface UsageOptions extends StateOptions {
  account?: string;
  explain?: boolean;
  key?: string;
  window: string;
  by: string;
  since?: string;
  until?: string;
  requests?: boolean;
  format?: string;
  json?: boolean;
}

function parseInstant(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new UsageError(
      `${option} takes an ISO 8601 date or time, e.g. 2026-05-06 or 2026-05-06T12:00:00Z; got "${text}"`,
    );
  return ms;
}

function parseGroupings(text: string): Grouping[] {
  const groupings = text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
  for (const grouping of groupings) {
    if (!(GROUPINGS as readonly string[]).includes(grouping)) {
      throw new UsageError(`--by takes a list of ${GROUPINGS.join(", ")}; got "${grouping}"`);
    }
  }
  if (groupings.length === 0) throw new UsageError(`--by needs at least one of ${GROUPINGS.join(", ")}`);
  return groupings as Grouping[];
}

function formatOf(options: UsageOptions): "table" | "csv" | "json" {
  if (options.json) return "json";
  const format = options.format ?? "table";
  if (format !== "table" && format !== "csv" && format !== "json") {
    throw new UsageError(`--format takes table, csv or json; got "${format}"`);
  }
  return format;
}

const REPORT_COLUMNS = [
  "requests",
  "errors",
  "input_tokens",
  "output_tokens",
  "cache_creation_input_tokens",
  "cache_creation_1h_input_tokens",
  "cache_read_input_tokens",
  "cost_usd",
  "credits_usd",
] as const;

const usd = (value: number) => `$${value.toFixed(value !== 0 && Math.abs(value) < 0.01 ? 4 : 2)}`;

function reportTable(rows: ReportRow[], by: Grouping[]): string {
  const headers = [...by, "requests", "errors", "input", "output", "cache write", "cache read", "cost"];
  const cells = rows.map((row) => [
    ...by.map((grouping) => row[grouping] ?? "-"),
    row.requests,
    row.errors,
    row.input_tokens,
    row.output_tokens,
    row.cache_creation_input_tokens,
    row.cache_read_input_tokens,
    usd(row.cost_usd),
  ]);
  return formatTable(headers, cells);
}

/** `usage --explain`: the window's entries, as a table or JSON. */
async function explain(options: UsageOptions): Promise<void> {
  if (!options.key) throw new UsageError("--explain needs --key KEY_ID (see `headroom keys list`)");
  const config = configFor(options);
  await withStores(options, async ({ ledger, policies: store, accounts }) => {
    const identity = await accounts.identityOfKey(options.key as string);
    if (!identity) throw new UsageError(`no key with id ${options.key}`);
    const policies = await PolicyBook.open(store);
    const router = new ModelRouter(config);
    const capacity = config.capacity ? loadFleetCapacity(config.capacity.fleet) : new ConstantCapacity();
    const enforcer = new Enforcer(new MemoryLimiterStore(), policies, capacity, Date.now);
    let explanation: WindowExplanation;
    try {
      explanation = await explainWindow(
        { ledger, enforcer, familyOf: (model) => router.resolve(model)?.entry.family },
        identity,
        options.window,
        Date.now(),
      );
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (options.json || options.format === "json") {
      process.stdout.write(`${JSON.stringify(explanation, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${explanationText(explanation)}\n`);
  });
}

function explanationText(explanation: WindowExplanation): string {
  const { account, plan, window, started_at, resets_at, limit_usd, used_usd, entries } = explanation;
  const head = started_at
    ? `${window} window of account ${account} (plan ${plan}): ${usd(used_usd)} of ${usd(limit_usd)} used, started ${started_at}, resets ${resets_at}.`
    : `${window} window of account ${account} (plan ${plan}): none running; ${usd(limit_usd)} available.`;
  if (entries.length === 0) return head;
  const refunded = entries.filter((entry) => entry.refunded_usd > 0).length;
  const table = formatTable(
    ["at", "request", "model", "status", "reason", "charged", "refunded"],
    entries.map((entry) => [
      entry.at,
      entry.request_id,
      entry.model ?? "-",
      entry.status,
      entry.billing === "full"
        ? (entry.reason ?? "-")
        : `${entry.reason ?? "failed"} (service failure: ${entry.billing === "none" ? "not charged" : "delivered output charged"})`,
      usd(entry.charged_usd),
      usd(entry.refunded_usd),
    ]),
  );
  const tail = `${entries.length} entries, ${refunded} refunded; charged ${usd(entries.reduce((sum, entry) => sum + entry.charged_usd, 0))} in all.`;
  return `${head}\n${table}\n${tail}`;
}

export function registerUsageCommand(program: Command): void {
  withStateOptions(
    program
      .command("usage")
      .description("usage and cost from the ledger, per account, key, model or day; or its rows one by one")
      .option("--by <groups>", `group by a comma-separated list of ${GROUPINGS.join(", ")}`, "account,model")
      .option("--account <name>", "only this account")
      .option("--since <iso>", "only requests from this instant on (ISO 8601)")
      .option("--until <iso>", "only requests before this instant (ISO 8601)")
      .option("--requests", "print the ledger's rows, one per request, oldest first")
      .option("--explain", "the entries behind one window of a key's account: charges, refunds, reasons")
      .option("--key <id>", "with --explain: the key (its id, as `keys list` shows it)")
      .option("--window <name>", "with --explain: 5h, week, week-<family> or month", "5h")
      .option("--format <format>", "table, csv or json", "table")
      .option("--json", "same as --format json"),
  ).action(async (options: UsageOptions) => {
    if (options.explain) {
      await explain(options);
      return;
    }
    const format = formatOf(options);
    const by = parseGroupings(options.by);
    const sinceMs = parseInstant(options.since, "--since") ?? 0;
    const untilMs = parseInstant(options.until, "--until") ?? Number.POSITIVE_INFINITY;
    const config = configFor(options);
    await withStores(options, async ({ ledger, policies: store }) => {
      const policies = await PolicyBook.open(store);
      const router = new ModelRouter(config);
      const price = pricer(
        (ms) => policies.inForce(ms),
        (model) => router.resolve(model)?.entry.family,
      );
      const events = async function* (): AsyncIterable<UsageEvent> {
        for await (const event of ledger.replay(sinceMs, { account: options.account })) {
          if (event.at_ms >= untilMs) return;
          yield event;
        }
      };
      const write = (text: string) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
      if (options.requests) {
        if (format === "table") throw new UsageError("--requests prints --json or --format csv");
        const rows: RequestRow[] = [];
        for await (const event of events()) rows.push(requestRow(event, price));
        if (format === "json") write(JSON.stringify(rows, null, 2));
        else
          write(
            toCsv(rows as unknown as Array<Record<string, unknown>>, rows[0] ? Object.keys(rows[0]) : []),
          );
        return;
      }
      const rows = await summarize(events(), by, price);
      if (format === "json") write(JSON.stringify(rows, null, 2));
      else if (format === "csv")
        write(toCsv(rows as unknown as Array<Record<string, unknown>>, [...by, ...REPORT_COLUMNS]));
      else write(rows.length === 0 ? "No usage recorded yet." : reportTable(rows, by));
    });
  });
}
