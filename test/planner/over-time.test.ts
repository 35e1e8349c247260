import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { stringify } from "yaml";
import { loadCalibratedCatalog } from "../../src/capacity/calibration.ts";
import { readFleetFile } from "../../src/capacity/timeline.ts";
import { defaultUntil, planOverTime } from "../../src/planner/over-time.ts";
import { readScenarioFile, type Scenario } from "../../src/planner/scenario.ts";
import { growthAt } from "../../src/planner/simulate.ts";
import { readPolicyFile } from "../../src/plans/load-policy.ts";
import { runCli } from "../helpers/cli.ts";

const DAY = 86_400_000;
const catalog = loadCalibratedCatalog();
const loaded = readScenarioFile("examples/colossus-deal.yaml");
const fleet = readFleetFile(loaded.fleetPath, catalog);
const policy = readPolicyFile(loaded.policyPath).find(
  (candidate) => candidate.version === loaded.scenario.policy,
);
assert.ok(policy);
/** Quick: 16 cohorts a plan, no shape search (a given shape), demand growing 5% a week. */
const quick: Scenario = {
  ...loaded.scenario,
  cohorts_per_plan: 16,
  demand: {
    ...loaded.scenario.demand,
    peak_rule_newly_limited_share: undefined,
    day_concentration: 0.6,
    weekly_growth: 0.05,
  },
};
const before = Date.parse(quick.compare.before);
const dir = mkdtempSync(join(tmpdir(), "headroom-over-time-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("a plan over months", () => {
  test("demand compounds weekly from the before instant, where calibrations hold", () => {
    assert.equal(growthAt(quick, before), 1);
    assert.ok(Math.abs(growthAt(quick, before + 14 * DAY) - 1.05 ** 2) < 1e-12);
    assert.ok(Math.abs(growthAt(quick, before + 3.5 * DAY) - 1.05 ** 0.5) < 1e-12);
    assert.equal(growthAt({ ...quick, demand: { ...quick.demand, weekly_growth: 0 } }, before + 99 * DAY), 1);
  });

  test("week by week: the deal's ramp raises the fleet and the margins, growth then wears them down", () => {
    const result = planOverTime(quick, fleet, catalog, policy, {
      untilMs: before + 10 * 7 * DAY,
      stepDays: 7,
      resolutionMinutes: 60,
    });
    const { points } = result;
    assert.equal(points.length, 10);
    for (const [i, point] of points.entries()) {
      assert.equal(point.startMs, before + i * 7 * DAY);
      assert.ok(Math.abs(point.growth - 1.05 ** i) < 1e-9);
      if (i > 0) assert.ok(point.gpusInstalled >= (points[i - 1]?.gpusInstalled ?? 0));
    }
    // Calibrated at the first week: the baseline sits at its service levels there.
    const first = points[0];
    assert.ok(first && Math.abs(first.margin.baseline.value - 1) < 0.01, `${first?.margin.baseline.value}`);
    // The deal (2026-05-06, 25 days' ramp) is under way in week 2 and done by week 5.
    assert.ok((points[2]?.gpusInstalled ?? 0) > (points[1]?.gpusInstalled ?? 0));
    assert.equal(points[5]?.gpusInstalled, 330_000);
    assert.ok((points[5]?.margin.doubledPeakLifted.value ?? 0) > 1);
    // Once the fleet stops changing, each week's 5% more demand costs the margin about 5%.
    for (let i = 6; i < points.length; i++) {
      const ratio = (points[i]?.margin.baseline.value ?? 0) / (points[i - 1]?.margin.baseline.value ?? 1);
      assert.ok(
        Math.abs(ratio - 1 / 1.05) < 0.02,
        `week ${i}: margin ×${ratio.toFixed(4)} of the week before`,
      );
    }
    assert.equal(result.doubledHoldsFrom, points.find((p) => p.margin.doubledPeakLifted.value >= 1)?.startMs);
  });

  test("the default end is four weeks past the fleet's last change", () => {
    // The orbital site joins on 2028-06-01.
    assert.equal(defaultUntil(quick, fleet), Date.parse("2028-06-01T00:00:00Z") + 28 * DAY);
  });

  test("headroom plan --over-time --json prints the weeks; a bad --until is refused", async () => {
    const file = join(dir, "quick.yaml");
    writeFileSync(file, stringify({ ...quick, fleet: loaded.fleetPath, policy_file: loaded.policyPath }));
    const out = join(dir, "out");
    const result = await runCli([
      "plan",
      "--scenario",
      file,
      "--over-time",
      "--until",
      "2026-06-01T00:00:00Z",
      "--resolution",
      "120",
      "--json",
      "--out",
      out,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as { weeks: Array<{ start: string; gpus_online: number }> };
    assert.deepEqual(
      json.weeks.map((week) => week.start.slice(0, 10)),
      ["2026-04-27", "2026-05-04", "2026-05-11", "2026-05-18", "2026-05-25"],
    );
    assert.match(readFileSync(join(out, "over-time.svg"), "utf8"), /^<svg/);
    // Progress without a terminal: one line per week.
    assert.match(result.stderr, /plan --over-time: week of 2026-05-18/);
    const bad = await runCli(["plan", "--scenario", file, "--over-time", "--until", "2026-01-01T00:00:00Z"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--until 2026-01-01T00:00:00Z is not after the scenario's before instant/);
  });
});
