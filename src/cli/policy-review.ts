/**
 * `headroom policy propose | drafts | approve | reject | log`: a plan's policy published through
 * review. A proposal is stored as a draft (no gateway sees it), shown against the policy in force
 * at its date with the plan's margins beside each change, and takes effect only once approved;
 * every step is in the audit log.
 */
import { existsSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { randomId } from "../common/ids.ts";
import { planJsonSchema } from "../planner/plan-json.ts";
import { planNotesOf, readPlanNotes, reviewChanges } from "../planner/plan-margins.ts";
import { readPolicyFile } from "../plans/load-policy.ts";
import { PolicyBook } from "../plans/policy-book.ts";
import type { PolicyDraft, PolicyStore } from "../plans/policy-store.ts";
import { PolicyReviewError } from "../plans/policy-store.ts";
import { formatTable, type StateOptions, UsageError, withStateOptions, withStores } from "./options.ts";

/** Who runs the command, for the audit log. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli";
  }
}

const show = (value: unknown) =>
  value === undefined ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value);

/** Review errors are the user's to fix: exit 2 with the store's message. */
function reviewed<T>(work: Promise<T>): Promise<T> {
  return work.catch((error: unknown) => {
    if (error instanceof PolicyReviewError) throw new UsageError(error.message);
    throw error;
  });
}

function withPolicies<T>(options: StateOptions, work: (store: PolicyStore) => Promise<T>): Promise<T> {
  return withStores(options, (stores) => reviewed(work(stores.policies)));
}

/** The draft against the policy in force at its date, a line per change, with the plan's margin. */
export async function draftDiff(store: PolicyStore, draft: PolicyDraft): Promise<string> {
  const book = await PolicyBook.open(store);
  const current = book.inForce(Date.parse(draft.policy.effective_from));
  const changes = reviewChanges(current, draft);
  const notes = readPlanNotes(draft.notes);
  const header = `Draft ${draft.id} (${draft.status}): policy ${draft.policy.version} from ${draft.policy.effective_from}, against ${current.version} (in force then).`;
  const basis = notes
    ? `From the plan of ${notes.scenario} (the week of ${notes.at.slice(0, 10)}; ${notes.baseline_assumption}).`
    : "No plan figures were kept with this draft.";
  if (changes.length === 0) return [header, basis, "No differences in plans or prices."].join("\n");
  return [
    header,
    basis,
    "",
    formatTable(
      ["field", current.version, draft.policy.version, "plan's margin"],
      changes.map((change) => [change.path, show(change.before), show(change.after), change.margin]),
    ),
  ].join("\n");
}

export async function findDraft(store: PolicyStore, id: string): Promise<PolicyDraft> {
  const draft = (await store.drafts()).find((candidate) => candidate.id === id);
  if (!draft) throw new UsageError(`no policy draft ${id}; \`headroom policy drafts\` lists them`);
  return draft;
}

export function registerPolicyReviewCommands(policy: Command): void {
  withStateOptions(
    policy
      .command("propose")
      .description("store a plan's policy as a draft; it takes no effect until approved")
      .requiredOption("--from <dir>", "a plan run's output directory (policy.yaml, plan.json)")
      .requiredOption("--effective <iso>", "when the policy would take effect")
      .option("--version <version>", "the draft's version (default planned-DATE)"),
  ).action(async (options: StateOptions & { from: string; effective: string; version?: string }) => {
    const effectiveMs = Date.parse(options.effective);
    if (Number.isNaN(effectiveMs))
      throw new UsageError(`--effective must be an ISO date-time, got "${options.effective}"`);
    const effective = new Date(effectiveMs).toISOString().replace(".000Z", "Z");
    const file = join(options.from, "policy.yaml");
    if (!existsSync(file))
      throw new UsageError(`${file} does not exist: give the --out directory of \`headroom plan\``);
    const [planned] = readPolicyFile(file);
    if (!planned) throw new UsageError(`${file} holds no policy`);
    const version = options.version ?? `planned-${effective.slice(0, 10)}`;
    const policyJson = join(options.from, "plan.json");
    const scenarioFile = join(options.from, "scenario.txt");
    const scenario = existsSync(scenarioFile) ? readFileSync(scenarioFile, "utf8").trim() : options.from;
    const notes = existsSync(policyJson)
      ? JSON.stringify(
          planNotesOf(planJsonSchema.parse(JSON.parse(readFileSync(policyJson, "utf8"))), scenario),
        )
      : undefined;
    const text = await withPolicies(options, async (store) => {
      const draft = await store.propose(
        { ...planned, version, effective_from: effective },
        { id: `draft_${randomId(12)}`, actor: cliActor(), source: options.from, ...(notes ? { notes } : {}) },
      );
      return `Proposed ${draft.id}. It takes no effect until \`headroom policy approve ${draft.id}\`.\n\n${await draftDiff(store, draft)}`;
    });
    process.stdout.write(`${text}\n`);
  });

  withStateOptions(
    policy.command("drafts").description("proposed policies and what became of them").option("--json"),
  ).action(async (options: StateOptions & { json?: boolean }) => {
    const drafts = await withPolicies(options, (store) => store.drafts());
    if (options.json) {
      process.stdout.write(`${JSON.stringify(drafts, null, 2)}\n`);
      return;
    }
    if (drafts.length === 0) {
      process.stdout.write(
        "No drafts. `headroom policy propose --from PLAN_DIR --effective ISO` makes one.\n",
      );
      return;
    }
    process.stdout.write(
      `${formatTable(
        ["id", "version", "effective from", "status", "proposed", "by", "source"],
        drafts.map((d) => [
          d.id,
          d.policy.version,
          d.policy.effective_from,
          d.status,
          d.proposedAt,
          d.proposedBy,
          d.source ?? "",
        ]),
      )}\n`,
    );
  });

  for (const decision of ["approve", "reject"] as const) {
    withStateOptions(
      policy
        .command(decision)
        .description(
          decision === "approve"
            ? "approve a draft: its policy is stored and takes effect at its date"
            : "reject a draft: nothing changes, and its version is free again",
        )
        .argument("<draft-id>"),
    ).action(async (id: string, options: StateOptions) => {
      const draft = await withPolicies(options, (store) => store.decide(id, decision, { actor: cliActor() }));
      const { version, effective_from: from } = draft.policy;
      process.stdout.write(
        decision === "approve"
          ? `Approved ${id}: policy ${version} ${Date.parse(from) > Date.now() ? `takes effect at ${from}` : `is in force (from ${from})`}.\n`
          : `Rejected ${id}: policy ${version} will not take effect.\n`,
      );
    });
  }

  withStateOptions(
    policy
      .command("log")
      .description("every policy change: who, when, what, from which plan run")
      .option("--json"),
  ).action(async (options: StateOptions & { json?: boolean }) => {
    const entries = await withPolicies(options, (store) => store.auditLog());
    if (options.json) {
      process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      `${formatTable(
        ["at", "actor", "action", "version", "draft", "source"],
        entries.map((e) => [e.at, e.actor, e.action, e.version, e.draftId ?? "", e.source ?? ""]),
      )}\n`,
    );
  });
}
