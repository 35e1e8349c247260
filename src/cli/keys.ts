/** `headroom keys create|list|revoke`: manage API keys, also while a server runs on the same data dir. */
import type { Command } from "commander";
import type { AccountStore } from "../accounts/account-store.ts";
import { builtInPlans } from "../plans/registry.ts";
import { describeLimits, limitsFromOptions, withLimitOptions } from "./levels.ts";
import {
  formatTable,
  requireKnownPlan,
  type StateOptions,
  UsageError,
  withStateOptions,
  withStores,
} from "./options.ts";

function withAccounts<T>(options: StateOptions, work: (accounts: AccountStore) => Promise<T>): Promise<T> {
  return withStores(options, (stores) => work(stores.accounts));
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command("keys").description("create, list and revoke API keys");

  withStateOptions(
    keys
      .command("create")
      .description("create an API key (printed once; only its hash is stored)")
      .requiredOption("--account <name>", "account the key belongs to (created if new)")
      .option(
        "--plan <plan>",
        `plan of a new account, or this key's own plan (${builtInPlans.map((p) => p.name).join(", ")})`,
      )
      .option("--team <team>", "put the account in this team (its limits and its organisation's apply)")
      .option("--json", 'print {"key": …} as JSON'),
  ).action(
    async (options: StateOptions & { account: string; plan?: string; team?: string; json?: boolean }) => {
      const created = await withStores(options, async (stores) => {
        await requireKnownPlan(stores, options.plan);
        const { accounts } = stores;
        if (options.team && !(await accounts.listTeams()).some((team) => team.name === options.team))
          throw new UsageError(
            `no team ${options.team}; create it with: headroom teams create ${options.team} --org NAME`,
          );
        const key = await accounts.createKey(options.account, options.plan).catch((error: unknown) => {
          throw new UsageError((error as Error).message);
        });
        if (options.team) await accounts.setAccountTeam(options.account, options.team);
        return key;
      });
      if (options.json) {
        process.stdout.write(
          `${JSON.stringify({ key: created.key, id: created.id, account: created.account, plan: created.plan })}\n`,
        );
        return;
      }
      process.stdout.write(
        `Created key ${created.id} for account ${created.account} (plan ${created.plan}${options.team ? `, team ${options.team}` : ""}).\n` +
          `It is shown only this once:\n\n  ${created.key}\n\n` +
          "Use it as x-api-key (ANTHROPIC_API_KEY) or Authorization: Bearer (OPENAI_API_KEY).\n",
      );
    },
  );

  withStateOptions(
    keys
      .command("list")
      .description("list keys (never the keys themselves)")
      .option("--account <name>")
      .option("--json"),
  ).action(async (options: StateOptions & { account?: string; json?: boolean }) => {
    const listing = await withAccounts(options, (accounts) => accounts.listKeys(options.account));
    if (options.json) {
      process.stdout.write(`${JSON.stringify(listing, null, 2)}\n`);
      return;
    }
    if (listing.length === 0) {
      process.stdout.write("No keys yet. Create one with: headroom keys create --account NAME --plan pro\n");
      return;
    }
    const rows = listing.map((key) => [
      key.id,
      key.account,
      key.plan,
      key.prefix,
      key.created_at,
      key.revoked_at ?? "active",
    ]);
    process.stdout.write(`${formatTable(["id", "account", "plan", "key", "created", "status"], rows)}\n`);
  });

  withStateOptions(
    keys
      .command("revoke")
      .description("revoke a key by id")
      .argument("<id>", "key id, as `keys list` shows it"),
  ).action(async (id: string, options: StateOptions) => {
    const revoked = await withAccounts(options, (accounts) => accounts.revokeKey(id));
    if (!revoked) throw new UsageError(`no active key with id ${id}`);
    process.stdout.write(`Revoked ${id}. Requests with it now get 401.\n`);
  });

  withStateOptions(
    withLimitOptions(
      keys
        .command("set")
        .description("give a key limits of its own, narrower than its account's plan")
        .argument("<id>", "key id, as `keys list` shows it"),
    ),
  ).action(async (id: string, options: StateOptions & Record<string, unknown>) => {
    const limits = await withStores(options, async (stores) => {
      await requireKnownPlan(stores, options.plan as string | boolean | undefined);
      const { accounts } = stores;
      const identity = await accounts.identityOfKey(id);
      if (!identity) throw new UsageError(`no key with id ${id}`);
      const current = identity.levels?.find((level) => level.level === "key")?.limits ?? {};
      const next = limitsFromOptions(options as Parameters<typeof limitsFromOptions>[0], current);
      await accounts.setLimits("key", id, next);
      return next;
    });
    process.stdout.write(`Key ${id}: ${describeLimits(limits)}.\n`);
  });
}
