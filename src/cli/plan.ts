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

export function registerPlanCommand(program: Command): void {
  program
    .command("plan")
    .description("simulate demand against the fleet before and after a deal; solve for sustainable limits")
    .requiredOption("--scenario <file>", "scenario file (YAML)")
    .option("--out <dir>", "write charts (SVG), an HTML report and the planned policy here")
    .option("--json", "print one JSON object (the verdicts, margins and figures) instead of the table")
    .action(async (options: { scenario: string; out?: string; json?: boolean }) => {
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
      const wrote = `Wrote ${join(options.out, "report.html")}, three SVG charts (the week before, after, and the sensitivity tornado) and ${join(options.out, "policy.yaml")} (headroom policy apply it).\n`;
      // With --json, stdout holds only the JSON object.
      (options.json ? process.stderr : process.stdout).write(wrote);
    });
}
