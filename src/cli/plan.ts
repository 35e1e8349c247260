/** `headroom plan --scenario FILE [--out DIR]`: capacity into limits, before and after a deal. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { UsageError } from "./options.ts";

/**
 * Progress on stderr: on a terminal a one-line bar with the stage; otherwise (CI, logs, a child
 * process) one line per stage with the time since the start, so a long plan is never silent.
 */
function progress(label: string): (done: number, total: number, stage: string) => void {
  const started = performance.now();
  let last = "";
  if (!process.stderr.isTTY)
    return (_done, _total, stage) => {
      if (stage === last) return;
      last = stage;
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      process.stderr.write(`${label}: ${stage} (${seconds} s)\n`);
    };
  return (done, total, stage) => {
    const width = 30;
    const filled = Math.round((Math.min(done, total) / total) * width);
    process.stderr.write(
      `\r\x1b[2K${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${Math.round((100 * Math.min(done, total)) / total)}% ${stage}`,
    );
    if (stage === "done") process.stderr.write("\n");
  };
}

interface PlanOptions {
  scenario: string;
  out?: string;
  json?: boolean;
  overTime?: boolean;
  until?: string;
  stepDays: string;
  resolution: string;
}

function positiveInteger(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a whole number ≥ 1, got "${value}"`);
  return n;
}

/** `headroom plan --over-time`: the weeks' table (or JSON) and, with --out, the months chart. */
async function runOverTime(
  options: PlanOptions,
  scenario: import("../planner/scenario.ts").Scenario,
  fleet: import("../capacity/fleet-schema.ts").Fleet,
  catalog: Map<string, import("../capacity/gpu-catalog.ts").Gpu>,
  policy: import("../plans/schema.ts").Policy,
): Promise<void> {
  const [{ defaultUntil, planOverTime }, { overTimeChart, overTimeReport }] = await Promise.all([
    import("../planner/over-time.ts"),
    import("../planner/report.ts"),
  ]);
  const untilMs = options.until === undefined ? defaultUntil(scenario, fleet) : Date.parse(options.until);
  if (Number.isNaN(untilMs)) throw new UsageError(`--until must be an ISO date, got "${options.until}"`);
  if (untilMs <= Date.parse(scenario.compare.before))
    throw new UsageError(
      `--until ${options.until} is not after the scenario's before instant ${scenario.compare.before}`,
    );
  const started = performance.now();
  const result = planOverTime(
    scenario,
    fleet,
    catalog,
    policy,
    {
      untilMs,
      stepDays: positiveInteger(options.stepDays, "--step-days"),
      resolutionMinutes: positiveInteger(options.resolution, "--resolution"),
    },
    progress("plan --over-time"),
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (options.json)
    process.stdout.write(
      `${JSON.stringify(
        {
          until: new Date(untilMs).toISOString(),
          step_days: result.options.stepDays,
          resolution_minutes: result.calibration.scenario.resolution_minutes,
          demand_scale: result.calibration.demandScale,
          doubled_holds_from:
            result.doubledHoldsFrom === null ? null : new Date(result.doubledHoldsFrom).toISOString(),
          doubled_fails_from:
            result.doubledFailsFrom === null ? null : new Date(result.doubledFailsFrom).toISOString(),
          weeks: result.points.map((point) => ({
            start: new Date(point.startMs).toISOString(),
            gpus_installed: point.gpusInstalled,
            gpus_online: point.gpusOnline,
            gpu_equivalents: point.gpuEquivalents,
            demand_growth: point.growth,
            peak_utilisation: point.peakUtilisation,
            margin: {
              baseline: point.margin.baseline.value,
              doubled_peak_lifted: point.margin.doubledPeakLifted.value,
            },
          })),
        },
        null,
        2,
      )}\n`,
    );
  else process.stdout.write(`${overTimeReport(result)}\n\nPlanned in ${seconds} s.\n`);
  if (!options.out) return;
  mkdirSync(options.out, { recursive: true });
  writeFileSync(join(options.out, "over-time.svg"), overTimeChart(result));
  (options.json ? process.stderr : process.stdout).write(`Wrote ${join(options.out, "over-time.svg")}.\n`);
}

export function registerPlanCommand(program: Command): void {
  program
    .command("plan")
    .description("simulate demand against the fleet before and after a deal; solve for sustainable limits")
    .requiredOption("--scenario <file>", "scenario file (YAML)")
    .option("--out <dir>", "write charts (SVG), an HTML report and the planned policy here")
    .option("--json", "print one JSON object (the verdicts, margins and figures) instead of the table")
    .option(
      "--over-time",
      "week by week from the `before` instant: the fleet as it ramps and the margins as demand grows",
    )
    .option(
      "--until <iso>",
      "with --over-time: the last week starts before this (default: 4 weeks past the fleet's last change)",
    )
    .option("--step-days <n>", "with --over-time: days between the weeks simulated", "7")
    .option("--resolution <minutes>", "with --over-time: simulation step", "60")
    .action(async (options: PlanOptions) => {
      // Loaded when the command runs, so `headroom --help` and other commands start fast
      // (the charts' library alone takes half a second to load).
      const [{ stringify }, { loadCalibratedCatalog }, { capacityAt, readFleetFile }, planner, { planJson }] =
        await Promise.all([
          import("yaml"),
          import("../capacity/calibration.ts"),
          import("../capacity/timeline.ts"),
          import("../planner/plan.ts"),
          import("../planner/plan-json.ts"),
        ]);
      const [{ htmlReport, sensitivityReport, textReport, tornadoChart, weekChart }, { readScenarioFile }] =
        await Promise.all([import("../planner/report.ts"), import("../planner/scenario.ts")]);
      const { readPolicyFile } = await import("../plans/load-policy.ts");
      const { plan, plannedPolicy } = planner;
      const { scenario, fleetPath, policyPath } = readScenarioFile(options.scenario);
      const catalog = loadCalibratedCatalog();
      const fleet = readFleetFile(fleetPath, catalog);
      const policy = readPolicyFile(policyPath).find((candidate) => candidate.version === scenario.policy);
      if (!policy)
        throw new UsageError(`${options.scenario}: policy ${scenario.policy} is not in ${policyPath}`);
      const started = performance.now();
      if (options.overTime) {
        await runOverTime(options, scenario, fleet, catalog, policy);
        return;
      }
      const result = plan(
        scenario,
        fleet,
        catalog,
        policy,
        (ms) => capacityAt(fleet, catalog, ms).gpusOnline,
        progress("plan"),
      );
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (options.json) process.stdout.write(`${JSON.stringify(planJson(result), null, 2)}\n`);
      else
        process.stdout.write(
          `${textReport(result)}\n\n${sensitivityReport(result)}\n\nPlanned in ${seconds} s.\n`,
        );
      if (!options.out) return;
      mkdirSync(options.out, { recursive: true });
      const charts = [
        weekChart(result.before, scenario.resolution_minutes),
        weekChart(result.after, scenario.resolution_minutes),
        tornadoChart(result),
      ];
      writeFileSync(join(options.out, "week-before.svg"), charts[0] ?? "");
      writeFileSync(join(options.out, "week-after.svg"), charts[1] ?? "");
      writeFileSync(join(options.out, "tornado.svg"), charts[2] ?? "");
      writeFileSync(join(options.out, "report.html"), htmlReport(result, charts));
      const planned = plannedPolicy(policy, result, scenario.compare.after);
      writeFileSync(
        join(options.out, "policy.yaml"),
        `# Written by headroom plan from ${options.scenario}\n${stringify(planned)}`,
      );
      // The plan's figures beside its policy: `headroom policy propose --from DIR` keeps them.
      writeFileSync(join(options.out, "plan.json"), `${JSON.stringify(planJson(result), null, 2)}\n`);
      writeFileSync(join(options.out, "scenario.txt"), `${options.scenario}\n`);
      const wrote = `Wrote ${join(options.out, "report.html")}, three SVG charts (the week before, after, and the sensitivity tornado), plan.json and ${join(options.out, "policy.yaml")} (headroom policy propose --from ${options.out} --effective ISO).\n`;
      // With --json, stdout holds only the JSON object.
      (options.json ? process.stderr : process.stdout).write(wrote);
    });
}
