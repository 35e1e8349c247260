/**
 * Runs the capacity planner for the admin API in a child process (`headroom plan --json --out`),
 * never on the gateway's event loop: a plan with its sensitivity takes tens of seconds of CPU.
 * Answers the plan's JSON (verdicts and margins) and its three SVG charts.
 *
 * It reads scenarios only from its folder (`planner.scenarios_dir`): a name is resolved inside
 * it, symbolic links included, and anything else is refused before any file is touched, so
 * the answer never says whether, or what, a file elsewhere is. One plan runs at a time.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { HeadroomError, invalidRequest } from "../../common/errors.ts";
import { planJsonSchema } from "../../planner/plan-json.ts";
import { planNotesOf } from "../../planner/plan-margins.ts";
import { readPolicyFile } from "../../plans/load-policy.ts";
import type { Policy } from "../../plans/schema.ts";

const BIN = fileURLToPath(new URL("../../../bin/headroom.js", import.meta.url));
const TIME_LIMIT_MS = 5 * 60_000;
const SCENARIO_FILE = /\.ya?ml$/i;

export interface PlanRun {
  plan: Record<string, unknown>;
  charts: { week_before: string; week_after: string; tornado: string };
  /** The plan's policy and its figures, ready to propose as a draft (POST /policies/drafts). */
  proposal: { policy: Policy; notes: string; source: string };
  seconds: number;
}

export class PlanRunner {
  private running: { since: number; scenario: string } | undefined;

  constructor(
    private readonly scenariosDir: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The scenario files the folder offers (names relative to it). */
  scenarios(): string[] {
    try {
      // A scenario names its fleet at the top level; fleets and policies beside it do not.
      return readdirSync(this.scenariosDir, { recursive: true, encoding: "utf8" })
        .filter((name) => SCENARIO_FILE.test(name) && /^fleet:/m.test(this.head(name)))
        .sort();
    } catch {
      return [];
    }
  }

  /** The start of a file inside the folder ("" for one that is not, or not readable). */
  private head(name: string): string {
    try {
      return readFileSync(this.resolveScenario(name), "utf8").slice(0, 64 * 1024);
    } catch {
      return "";
    }
  }

  /** The scenario's real path inside the folder, or a refusal that says nothing of the outside. */
  resolveScenario(name: string): string {
    const refuse = () =>
      invalidRequest(
        `scenario: no scenario "${name}" in the planner's scenarios folder (planner.scenarios_dir); give a .yaml name inside it, as GET /admin/v1/plans/scenarios lists.`,
        "scenario",
      );
    if (isAbsolute(name) || name.includes("\0") || !SCENARIO_FILE.test(name)) throw refuse();
    let root: string;
    try {
      root = realpathSync(this.scenariosDir);
    } catch {
      throw refuse();
    }
    const lexical = resolve(root, name);
    if (!inside(root, lexical)) throw refuse();
    let real: string;
    try {
      real = realpathSync(lexical);
      if (!statSync(real).isFile()) throw refuse();
    } catch {
      throw refuse();
    }
    if (!inside(root, real)) throw refuse();
    return real;
  }

  /** Runs a scenario file of the folder. */
  async run(name: string): Promise<PlanRun> {
    const scenario = this.resolveScenario(name);
    return this.exclusive(name, () => runPlanProcess(scenario, basename(scenario)));
  }

  /**
   * Runs a scenario that `write` puts into a fresh folder (the ledger's demand and its
   * scenario, edge/admin/ledger-scenario.ts); the folder is removed after.
   */
  async runWritten(label: string, write: (dir: string) => Promise<string>): Promise<PlanRun> {
    return this.exclusive(label, async () => {
      const dir = mkdtempSync(join(tmpdir(), "headroom-scenario-"));
      try {
        return await runPlanProcess(await write(dir), label);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  private async exclusive(label: string, work: () => Promise<PlanRun>): Promise<PlanRun> {
    if (this.running) {
      const seconds = Math.round((this.clock() - this.running.since) / 1000);
      throw new HeadroomError(
        "plan_running",
        `A plan is already running (${this.running.scenario}, started ${seconds} s ago); one runs at a time: try again when it ends.`,
        { headers: { "retry-after": "10" } },
      );
    }
    this.running = { since: this.clock(), scenario: label };
    try {
      return await work();
    } finally {
      this.running = undefined;
    }
  }
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
}

async function runPlanProcess(scenario: string, label: string): Promise<PlanRun> {
  const out = mkdtempSync(join(tmpdir(), "headroom-plan-"));
  const started = performance.now();
  try {
    const stdout = await new Promise<string>((resolvePlan, reject) => {
      execFile(
        process.execPath,
        [BIN, "plan", "--scenario", scenario, "--json", "--out", out],
        { timeout: TIME_LIMIT_MS, maxBuffer: 64 * 1024 * 1024 },
        (error, text, stderr) => {
          if (error)
            reject(
              invalidRequest(
                // Progress lines come first on stderr; what went wrong is its last line.
                `The plan failed: ${(stderr || error.message).trim().split("\n").at(-1)}`,
                "scenario",
              ),
            );
          else resolvePlan(text);
        },
      );
    });
    const svg = (file: string) => readFileSync(join(out, file), "utf8");
    const plan = planJsonSchema.parse(JSON.parse(stdout));
    const [policy] = readPolicyFile(join(out, "policy.yaml"));
    if (!policy) throw new HeadroomError("internal", "The plan wrote no policy.");
    const source = `plan of ${label}`;
    return {
      plan: plan as unknown as Record<string, unknown>,
      proposal: { policy, notes: JSON.stringify(planNotesOf(plan, label)), source },
      charts: {
        week_before: svg("week-before.svg"),
        week_after: svg("week-after.svg"),
        tornado: svg("tornado.svg"),
      },
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
