/**
 * `headroom orgs|teams create|list|set`: organisations and teams above accounts, each with
 * limits of its own (requests, tokens, concurrency, dollar budgets), decided with the plan's in
 * one limiter decision. The same limit options set a key's own limits (`keys set`).
 */
import type { Command } from "commander";
import type { LevelListing } from "../accounts/account-store.ts";
import type { LevelLimits } from "../plans/level-limits.ts";
import {
  formatTable,
  requireKnownPlan,
  type StateOptions,
  UsageError,
  withStateOptions,
  withStores,
} from "./options.ts";

type NumericLimit = Exclude<keyof LevelLimits, "plan">;

const LIMIT_OPTIONS: Array<{ flag: string; field: NumericLimit; what: string; money: boolean }> = [
  { flag: "--rpm <n>", field: "requests_per_minute", what: "requests per minute", money: false },
  { flag: "--itpm <n>", field: "input_tokens_per_minute", what: "input tokens per minute", money: false },
  { flag: "--otpm <n>", field: "output_tokens_per_minute", what: "output tokens per minute", money: false },
  { flag: "--concurrency <n>", field: "concurrency", what: "requests in flight", money: false },
  {
    flag: "--monthly-budget-usd <usd>",
    field: "monthly_budget_usd",
    what: "spend per month, at API prices",
    money: true,
  },
  {
    flag: "--weekly-budget-usd <usd>",
    field: "weekly_budget_usd",
    what: "spend per week, at API prices",
    money: true,
  },
];

/** Adds the limit options (and --clear) to a command. */
export function withLimitOptions(command: Command): Command {
  for (const option of LIMIT_OPTIONS) {
    command.option(option.flag, option.what, (text: string) => {
      const value = Number(text);
      const valid = option.money ? Number.isFinite(value) && value > 0 : Number.isInteger(value) && value > 0;
      if (!valid)
        throw new UsageError(
          `${option.flag.split(" ")[0]}: not a positive ${option.money ? "amount" : "whole number"}: ${text}`,
        );
      return value;
    });
  }
  return command
    .option("--plan <plan>", "a plan shared by everyone at this level (its windows and rates)")
    .option("--no-plan", "drop the level's plan")
    .option("--clear", "remove every limit first");
}

type LimitFlags = Partial<Record<string, number>> & { clear?: boolean; plan?: string | boolean };

/** The property commander stores an option under: `--monthly-budget-usd <usd>` → monthlyBudgetUsd. */
const attribute = (flag: string) =>
  (flag.split(" ")[0] ?? "").slice(2).replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** The limits the options give, over `current` unless --clear. */
export function limitsFromOptions(options: LimitFlags, current: LevelLimits = {}): LevelLimits {
  const limits: LevelLimits = options.clear ? {} : { ...current };
  // Whether the plan exists is for the caller to check against the stores (requireKnownPlan).
  if (typeof options.plan === "string") {
    limits.plan = options.plan;
  } else if (options.plan === false) delete limits.plan;
  for (const { field, flag } of LIMIT_OPTIONS) {
    const value = options[attribute(flag)];
    if (value !== undefined) limits[field] = value;
  }
  return limits;
}

export function describeLimits(limits: LevelLimits): string {
  const parts = (limits.plan ? [`plan ${limits.plan}`] : []).concat(
    LIMIT_OPTIONS.filter(({ field }) => limits[field] !== undefined).map(({ field, what, money }) =>
      money ? `$${limits[field]} ${what.replace(", at API prices", "")}` : `${limits[field]} ${what}`,
    ),
  );
  return parts.length > 0 ? parts.join(", ") : "no limits of its own";
}

function printListing(listing: LevelListing[], json: boolean | undefined, withOrganisation: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(listing, null, 2)}\n`);
    return;
  }
  const header = withOrganisation
    ? ["team", "organisation", "limits", "created"]
    : ["organisation", "limits", "created"];
  const rows = listing.map((entry) =>
    withOrganisation
      ? [entry.name, entry.organisation ?? "", describeLimits(entry.limits), entry.created_at]
      : [entry.name, describeLimits(entry.limits), entry.created_at],
  );
  process.stdout.write(`${formatTable(header, rows)}\n`);
}

const failed = (error: unknown): never => {
  throw new UsageError((error as Error).message);
};

export function registerLevelCommands(program: Command): void {
  const orgs = program
    .command("orgs")
    .description("organisations: limits shared by every team and account in them");
  withStateOptions(
    withLimitOptions(orgs.command("create").description("create an organisation").argument("<name>")),
  ).action(async (name: string, options: StateOptions & LimitFlags) => {
    const limits = limitsFromOptions(options);
    await withStores(options, async (stores) => {
      await requireKnownPlan(stores, options.plan);
      await stores.accounts.createOrganisation(name, limits).catch(failed);
    });
    process.stdout.write(`Created organisation ${name} (${describeLimits(limits)}).\n`);
  });
  withStateOptions(orgs.command("list").description("list organisations").option("--json")).action(
    async (options: StateOptions & { json?: boolean }) => {
      const listing = await withStores(options, (stores) => stores.accounts.listOrganisations());
      printListing(listing, options.json, false);
    },
  );
  withStateOptions(
    withLimitOptions(orgs.command("set").description("change an organisation's limits").argument("<name>")),
  ).action(async (name: string, options: StateOptions & LimitFlags) => {
    const limits = await withStores(options, async (stores) => {
      await requireKnownPlan(stores, options.plan);
      const current = (await stores.accounts.listOrganisations()).find((org) => org.name === name);
      if (!current) throw new UsageError(`no organisation ${name}`);
      const next = limitsFromOptions(options, current.limits);
      await stores.accounts.setLimits("organisation", name, next);
      return next;
    });
    process.stdout.write(`Organisation ${name}: ${describeLimits(limits)}.\n`);
  });

  const teams = program.command("teams").description("teams: limits shared by every account in them");
  withStateOptions(
    withLimitOptions(
      teams
        .command("create")
        .description("create a team in an organisation")
        .argument("<name>")
        .requiredOption("--org <organisation>", "the organisation the team belongs to"),
    ),
  ).action(async (name: string, options: StateOptions & LimitFlags & { org: string }) => {
    const limits = limitsFromOptions(options);
    await withStores(options, async (stores) => {
      await requireKnownPlan(stores, options.plan);
      await stores.accounts.createTeam(name, options.org, limits).catch(failed);
    });
    process.stdout.write(`Created team ${name} in ${options.org} (${describeLimits(limits)}).\n`);
  });
  withStateOptions(
    teams.command("list").description("list teams").option("--org <organisation>").option("--json"),
  ).action(async (options: StateOptions & { org?: string; json?: boolean }) => {
    const listing = await withStores(options, (stores) => stores.accounts.listTeams(options.org));
    printListing(listing, options.json, true);
  });
  withStateOptions(
    withLimitOptions(teams.command("set").description("change a team's limits").argument("<name>")),
  ).action(async (name: string, options: StateOptions & LimitFlags) => {
    const limits = await withStores(options, async (stores) => {
      await requireKnownPlan(stores, options.plan);
      const current = (await stores.accounts.listTeams()).find((team) => team.name === name);
      if (!current) throw new UsageError(`no team ${name}`);
      const next = limitsFromOptions(options, current.limits);
      await stores.accounts.setLimits("team", name, next);
      return next;
    });
    process.stdout.write(`Team ${name}: ${describeLimits(limits)}.\n`);
  });
}
