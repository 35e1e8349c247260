/** `headroom accounts set`: change an account's plan or its usage-credit cap. */
import type { Command } from "commander";
import { builtInPlans, findPlan } from "../plans/registry.ts";
import { type StateOptions, UsageError, withStateOptions, withStores } from "./options.ts";

function parseCap(text: string): number {
  const cap = Number(text);
  if (!Number.isFinite(cap) || cap < 0)
    throw new UsageError(`--credits-cap-usd: not an amount in dollars: ${text}`);
  return cap;
}

export function registerAccountsCommand(program: Command): void {
  const accounts = program.command("accounts").description("account settings");
  withStateOptions(
    accounts
      .command("set")
      .description(
        "change an account's plan or usage credits (continue past subscription limits at API prices)",
      )
      .requiredOption("--account <name>")
      .option("--plan <plan>", "the account's plan")
      .option("--credits-cap-usd <usd>", "opt in to usage credits with this monthly cap", parseCap)
      .option("--no-credits", "opt out of usage credits"),
  ).action(
    async (
      options: StateOptions & { account: string; plan?: string; creditsCapUsd?: number; credits: boolean },
    ) => {
      if (options.plan && !findPlan(options.plan)) {
        throw new UsageError(
          `unknown plan "${options.plan}"; known plans: ${builtInPlans.map((p) => p.name).join(", ")}`,
        );
      }
      const creditsCapUsd = options.credits === false ? null : options.creditsCapUsd;
      const changes = { plan: options.plan, creditsCapUsd };
      const found = await withStores(options, (stores) =>
        stores.accounts.updateAccount(options.account, changes),
      );
      if (!found) throw new UsageError(`no account ${options.account}`);
      const parts = [
        options.plan ? `plan ${options.plan}` : "",
        creditsCapUsd === null
          ? "usage credits off"
          : creditsCapUsd !== undefined
            ? `usage credits up to $${creditsCapUsd}/month`
            : "",
      ].filter(Boolean);
      process.stdout.write(`Account ${options.account}: ${parts.join(", ") || "unchanged"}.\n`);
    },
  );
}
