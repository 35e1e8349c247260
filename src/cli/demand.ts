/**
 * `headroom demand export`: the demand the gateway measured, from its own ledger (SQLite or
 * PostgreSQL), written as a demand file a scenario plans from (`demand: { from: FILE }`).
 */
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { stringify } from "yaml";
import { PolicyBook } from "../plans/policy-book.ts";
import { ModelRouter } from "../upstreams/routing.ts";
import { configFor, type StateOptions, UsageError, withStateOptions, withStores } from "./options.ts";

interface ExportOptions extends StateOptions {
  since?: string;
  days?: string;
  timeZone: string;
  accountFilter?: string;
  out?: string;
  json?: boolean;
  withNames?: boolean;
}

const DAY = 86_400_000;

export function registerDemandCommand(program: Command): void {
  const demand = program.command("demand").description("demand measured from the gateway's ledger");
  withStateOptions(
    demand
      .command("export")
      .description(
        "write the measured demand (users, usage spread, hours, mix, sizes, limits hit) as a demand file",
      )
      .option("--since <iso>", "from this instant (default: --days before now)")
      .option("--days <n>", "the last N days", "7")
      .option("--time-zone <zone>", "the zone of the hour-of-week profile", "UTC")
      .option("--account-filter <regex>", "only accounts whose name matches")
      .option("--out <file>", "write the demand file here (YAML)")
      .option("--json", "print it as JSON")
      .option("--with-names", "list the accounts measured (private: off by default)"),
  ).action(async (options: ExportOptions) => {
    const { exportDemand } = await import("../planner/demand-export.ts");
    const untilMs = Date.now();
    const days = Number(options.days);
    if (options.since === undefined && (!Number.isFinite(days) || days <= 0))
      throw new UsageError(`--days must be a positive number, got "${options.days}"`);
    const sinceMs = options.since === undefined ? untilMs - days * DAY : Date.parse(options.since);
    if (Number.isNaN(sinceMs))
      throw new UsageError(`--since must be an ISO date-time, got "${options.since}"`);
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: options.timeZone });
    } catch {
      throw new UsageError(`--time-zone: unknown time zone "${options.timeZone}"`);
    }
    let filter: RegExp | undefined;
    try {
      filter = options.accountFilter ? new RegExp(options.accountFilter) : undefined;
    } catch (error) {
      throw new UsageError(`--account-filter: ${(error as Error).message}`);
    }
    const router = new ModelRouter(configFor(options));
    const measured = await withStores(options, async ({ ledger, accounts, policies }) => {
      const keys = new Map((await accounts.listKeys()).map((key) => [key.id, key]));
      const book = await PolicyBook.open(policies);
      const plans = book.inForce(untilMs).plans;
      return exportDemand({
        events: ledger.replay(sinceMs),
        sinceMs,
        untilMs,
        timeZone: options.timeZone,
        planOfKey: (id) => {
          const key = keys.get(id);
          return key && (!filter || filter.test(key.account)) ? key.plan : undefined;
        },
        kindOfPlan: (plan) => plans[plan]?.kind,
        familyOf: (model) => router.resolve(model)?.entry.family,
        withNames: options.withNames,
      });
    });
    const text = options.json ? `${JSON.stringify(measured, null, 2)}\n` : stringify(measured);
    if (options.out) {
      writeFileSync(
        options.out,
        `# Measured by headroom demand export from ${measured.measured.since} to ${measured.measured.until}\n${text}`,
      );
      const subscribers = Object.values(measured.plans).reduce((sum, plan) => sum + plan.users, 0);
      const keysMeasured = Object.values(measured.api_tiers).reduce((sum, tier) => sum + tier.keys, 0);
      process.stdout.write(
        `Wrote ${options.out}: ${measured.measured.requests.toLocaleString("en-US")} requests, ${subscribers} subscribers on ${Object.keys(measured.plans).length} plans, ${keysMeasured} API keys.\n`,
      );
    } else process.stdout.write(text);
  });
}
