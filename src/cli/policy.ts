/** `headroom policy list|show|diff|apply`: dated policies, managed while a server runs. */
import type { Command } from "commander";
import { stringify } from "yaml";
import { defaultPolicy } from "../plans/default-policy.ts";
import { readPolicyFile } from "../plans/load-policy.ts";
import { PolicyBook } from "../plans/policy-book.ts";
import { diffPolicies } from "../plans/policy-diff.ts";
import type { PolicyStore } from "../plans/policy-store.ts";
import type { Policy } from "../plans/schema.ts";
import { formatTable, type StateOptions, UsageError, withStateOptions, withStores } from "./options.ts";
import { cliActor, draftDiff, findDraft, registerPolicyReviewCommands } from "./policy-review.ts";

function withPolicies<T>(options: StateOptions, work: (store: PolicyStore) => Promise<T>): Promise<T> {
  return withStores(options, (stores) => work(stores.policies));
}

async function findPolicy(store: PolicyStore, version: string): Promise<Policy> {
  if (version === defaultPolicy.version) return defaultPolicy;
  const policy = (await store.list()).find((candidate) => candidate.version === version);
  if (!policy) throw new UsageError(`no policy ${version}; \`headroom policy list\` shows them`);
  return policy;
}

const show = (value: unknown) =>
  value === undefined ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value);

export function registerPolicyCommand(program: Command): void {
  const policy = program
    .command("policy")
    .description("dated policies: the plans in force and when they change");
  registerPolicyReviewCommands(policy);

  withStateOptions(
    policy.command("list").description("stored policies and which is in force").option("--json"),
  ).action(async (options: StateOptions & { json?: boolean }) => {
    const rows = await withPolicies(options, async (store) =>
      (await PolicyBook.open(store)).timeline(Date.now()),
    );
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify(
          rows.map(({ policy: p, status }) => ({
            version: p.version,
            effective_from: p.effective_from,
            status,
            description: p.description,
          })),
          null,
          2,
        )}\n`,
      );
      return;
    }
    const inForce = rows.some((row) => row.status === "in force");
    const table = [
      [defaultPolicy.version, "(always)", inForce ? "superseded" : "in force", defaultPolicy.description],
      ...rows.map(({ policy: p, status }) => [p.version, p.effective_from, status, p.description]),
    ];
    process.stdout.write(`${formatTable(["version", "effective from", "status", "description"], table)}\n`);
  });

  withStateOptions(policy.command("show").description("print a policy as YAML").argument("<version>")).action(
    async (version: string, options: StateOptions) => {
      const found = await withPolicies(options, (store) => findPolicy(store, version));
      process.stdout.write(stringify(found));
    },
  );

  withStateOptions(
    policy
      .command("diff")
      .description(
        "what changes from one policy to another; with a draft id alone, the draft against the policy in force at its date",
      )
      .argument("<from>")
      .argument("[to]"),
  ).action(async (from: string, to: string | undefined, options: StateOptions) => {
    if (to === undefined) {
      const text = await withPolicies(options, async (store) =>
        draftDiff(store, await findDraft(store, from)),
      );
      process.stdout.write(`${text}\n`);
      return;
    }
    const changes = await withPolicies(options, async (store) =>
      diffPolicies(await findPolicy(store, from), await findPolicy(store, to)),
    );
    if (changes.length === 0) {
      process.stdout.write("No differences in plans or prices.\n");
      return;
    }
    process.stdout.write(
      `${formatTable(
        ["field", from, to],
        changes.map((change) => [change.path, show(change.before), show(change.after)]),
      )}\n`,
    );
  });

  withStateOptions(
    policy
      .command("apply")
      .description(
        "validate and store the policies in FILE (one, or a YAML list); they take effect at their dates",
      )
      .argument("<file>")
      .option("--replace", "overwrite stored policies with the same version"),
  ).action(async (file: string, options: StateOptions & { replace?: boolean }) => {
    const policies = readPolicyFile(file);
    const statuses = await withPolicies(options, async (store) => {
      await store
        .applyAll(policies, { replace: options.replace, actor: cliActor(), source: file })
        .catch((error: unknown) => {
          throw new UsageError(`${(error as Error).message} (nothing from ${file} was stored)`);
        });
      return (await PolicyBook.open(store)).timeline(Date.now());
    });
    for (const p of policies) {
      const status = statuses.find((entry) => entry.policy.version === p.version)?.status ?? "stored";
      const when = status === "scheduled" ? `takes effect at ${p.effective_from}` : status;
      process.stdout.write(`Stored policy ${p.version}: ${when}.\n`);
    }
  });
}
