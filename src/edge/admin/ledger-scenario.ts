/**
 * "Plan from this gateway's ledger": the demand the ledger measured over the last days
 * (planner/demand-export.ts, as `headroom demand export` writes it), beside a copy of the
 * shipped `from-ledger.yaml` scenario whose paths point at the fleet this gateway serves from
 * and at the policy in force here — so `headroom plan` runs on it unchanged, in its own folder.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { invalidRequest } from "../../common/errors.ts";
import type { UsageEvent } from "../../ledger/usage-event.ts";
import { exportDemand, type MeasuredDemand } from "../../planner/demand-export.ts";
import type { Policy } from "../../plans/schema.ts";

/** The shipped template: the example's week before and after the deal, service levels and API tiers. */
export const LEDGER_TEMPLATE = fileURLToPath(new URL("../../../examples/from-ledger.yaml", import.meta.url));

const DAY_MS = 86_400_000;

export interface LedgerSources {
  /** The ledger's events from an instant on. */
  replay(sinceMs: number): Iterable<UsageEvent> | AsyncIterable<UsageEvent>;
  /** Each key's plan (keys the export cannot place are left out). */
  planOfKey(keyId: string): string | undefined;
  /** A model id's family, as this gateway routes it. */
  familyOf(model: string): string | undefined;
  /** The policy in force now: the plans the measured users are on, and the limits planned from. */
  policy: Policy;
  /** The fleet this gateway serves from (capacity.fleet), else the template's. */
  fleet?: string;
  nowMs: number;
}

export interface LedgerScenario {
  file: string;
  demand: MeasuredDemand;
}

/** Writes demand.yaml, policy.yaml and scenario.yaml into `dir`; the scenario's path is returned. */
export async function writeLedgerScenario(
  sources: LedgerSources,
  days: number,
  dir: string,
): Promise<LedgerScenario> {
  const sinceMs = sources.nowMs - days * DAY_MS;
  const demand = await exportDemand({
    events: sources.replay(sinceMs),
    sinceMs,
    untilMs: sources.nowMs,
    timeZone: "UTC",
    planOfKey: sources.planOfKey,
    kindOfPlan: (plan) => sources.policy.plans[plan]?.kind,
    familyOf: sources.familyOf,
  });
  const subscribers = Object.values(demand.plans).reduce((sum, plan) => sum + plan.users, 0);
  if (subscribers === 0)
    throw invalidRequest(
      `The ledger has no subscriber traffic in the last ${days} day(s) to plan from: send some (headroom traffic --base URL --users 200 --duration 2m), or run a scenario file.`,
      "from_ledger",
    );
  const template = parse(readFileSync(LEDGER_TEMPLATE, "utf8")) as Record<string, unknown>;
  const base = dirname(LEDGER_TEMPLATE);
  writeFileSync(join(dir, "demand.yaml"), stringify(demand));
  writeFileSync(join(dir, "policy.yaml"), stringify(sources.policy));
  const scenario = {
    ...template,
    fleet: sources.fleet ?? resolve(base, String(template.fleet)),
    policy_file: "policy.yaml",
    policy: sources.policy.version,
    demand: { ...(template.demand as Record<string, unknown>), from: "demand.yaml" },
  };
  const file = join(dir, "scenario.yaml");
  writeFileSync(file, stringify(scenario));
  return { file, demand };
}
