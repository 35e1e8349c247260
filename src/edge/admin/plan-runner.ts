/**
 * Runs the capacity planner for the admin API in a child process (`headroom plan --json --out`),
 * never on the gateway's event loop: a plan with its sensitivity takes tens of seconds of CPU.
 * Answers the plan's JSON (verdicts and margins) and its three SVG charts.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { invalidRequest } from "../../errors.ts";

const BIN = fileURLToPath(new URL("../../../bin/headroom.js", import.meta.url));
const TIME_LIMIT_MS = 5 * 60_000;

export interface PlanRun {
  plan: Record<string, unknown>;
  charts: { week_before: string; week_after: string; tornado: string };
  seconds: number;
}

export async function runPlan(scenario: string): Promise<PlanRun> {
  if (!existsSync(scenario))
    throw invalidRequest(`scenario: no file ${scenario} on the gateway's machine.`, "scenario");
  const out = mkdtempSync(join(tmpdir(), "headroom-plan-"));
  const started = performance.now();
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [BIN, "plan", "--scenario", scenario, "--json", "--out", out],
        { timeout: TIME_LIMIT_MS, maxBuffer: 64 * 1024 * 1024 },
        (error, text, stderr) => {
          if (error)
            reject(
              invalidRequest(
                `The plan failed: ${(stderr || error.message).trim().split("\n")[0]}`,
                "scenario",
              ),
            );
          else resolve(text);
        },
      );
    });
    const svg = (name: string) => readFileSync(join(out, name), "utf8");
    return {
      plan: JSON.parse(stdout) as Record<string, unknown>,
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
