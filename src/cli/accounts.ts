/** `headroom accounts set`: change an account's plan or its usage-credit cap. */
import type { Command } from "commander";
import { requireKnownPlan, type StateOptions, UsageError, withStateOptions, withStores } from "./options.ts";

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
      .option("--no-credits", "opt out of usage credits")
      .option("--team <team>", "move the account into this team")
      .option("--no-team", "take the account out of its team"),
  ).action(
    async (
      options: StateOptions & {
        account: string;
        plan?: string;
        creditsCapUsd?: number;
        credits: boolean;
        team?: string | false;
      },
    ) => {
      const creditsCapUsd = options.credits === false ? null : options.creditsCapUsd;
      const changes = { plan: options.plan, creditsCapUsd };
      const found = await withStores(options, async (stores) => {
        await requireKnownPlan(stores, options.plan);
        const updated = await stores.accounts.updateAccount(options.account, changes);
        if (updated && options.team !== undefined) {
          const team = options.team === false ? null : options.team;
          if (!(await stores.accounts.setAccountTeam(options.account, team)))
            throw new UsageError(`no team ${options.team}`);
        }
        return updated;
      });
      if (!found) throw new UsageError(`no account ${options.account}`);
      const parts = [
        options.plan ? `plan ${options.plan}` : "",
        options.team === false ? "no team" : options.team ? `team ${options.team}` : "",
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
