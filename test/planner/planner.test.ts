import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { loadCalibratedCatalog } from "../../src/capacity/calibration.ts";
import { capacityAt, readFleetFile } from "../../src/capacity/timeline.ts";
import { ConfigError } from "../../src/config/load.ts";
import { withApiDemand } from "../../src/planner/api-demand.ts";
import {
  calibrateApiDemand,
  calibrateDayConcentration,
  calibrateDemand,
  calibrateIntensity,
  peakRuleNewlyLimited,
} from "../../src/planner/calibrate.ts";
import {
  bandShareAtLimit,
  dayWeight,
  effectiveActiveDays,
  makeCohorts,
  normalCdf,
  normalQuantile,
} from "../../src/planner/cohorts.ts";
import { capacityMargin, plan } from "../../src/planner/plan.ts";
import { planJsonSchema } from "../../src/planner/plan-json.ts";
import { readScenarioFile, type Scenario } from "../../src/planner/scenario.ts";
import { sensitivity } from "../../src/planner/sensitivity.ts";
import { baselineOptions, prepare, simulate } from "../../src/planner/simulate.ts";
import { largestSustainable } from "../../src/planner/solve.ts";
import { readPolicyFile } from "../../src/plans/load-policy.ts";
import { runCli } from "../helpers/cli.ts";

const catalog = loadCalibratedCatalog();
const loaded = readScenarioFile("examples/colossus-deal.yaml");
const fleet = readFleetFile(loaded.fleetPath, catalog);
const policy = readPolicyFile(loaded.policyPath).find(
  (candidate) => candidate.version === loaded.scenario.policy,
);
assert.ok(policy);
const gpusAt = (ms: number) => capacityAt(fleet, catalog, ms).gpusOnline;
/** The example at 10-minute resolution and 16 cohorts a plan: the same model, quicker to run. */
const quick: Scenario = { ...loaded.scenario, resolution_minutes: 10, cohorts_per_plan: 16 };
/** The quick example's own calibration: usage per user and users, as `headroom plan` finds them. */
const quickPrepared = prepare(quick, fleet, catalog, policy);
const quickIntensity = calibrateIntensity(quickPrepared, 0.05);
const quickDemand = calibrateDemand(quickPrepared, quickIntensity);
const dir = mkdtempSync(join(tmpdir(), "headroom-plan-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("planner", () => {
  test("cohorts sit at the quantiles of a log-normal intensity", () => {
    assert.ok(Math.abs(normalQuantile(0.5)) < 1e-9);
    assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
    const cohorts = makeCohorts(1_000, 100, 0.8, 3, 1);
    assert.equal(
      cohorts.reduce((sum, cohort) => sum + cohort.users, 0),
      1_000,
    );
    const median = cohorts[50]?.intensity ?? 0;
    assert.ok(median > 0.95 && median < 1.05);
  });

  test("users stand for their band of intensities: the share at a limit is the log-normal tail, not cohort steps", () => {
    const sigma = 0.9;
    const cohorts = makeCohorts(1_000, 16, sigma, 0, 1);
    // A limit reached at intensity 2.5: each user's ratio is their intensity / 2.5.
    for (const threshold of [0.3, 1, 2.5, 6]) {
      const share =
        cohorts.reduce(
          (sum, cohort) => sum + cohort.users * bandShareAtLimit(cohort, cohort.intensity / threshold),
          0,
        ) / 1_000;
      const exact = 1 - normalCdf(Math.log(threshold) / sigma);
      assert.ok(Math.abs(share - exact) < 1e-6, `threshold ${threshold}: ${share} vs ${exact}`);
    }
    // Whole-cohort counting would give a multiple of 1/16 here; the band gives the tail.
    const one = cohorts[8];
    assert.ok(one);
    assert.equal(bandShareAtLimit(one, 0), 0);
    assert.ok(Math.abs(bandShareAtLimit(one, 1) - 0.5) < 1e-5);
    assert.equal(bandShareAtLimit(one, 1e9), 1);
  });

  test("a week concentrated into fewer days keeps its total: weights sum to 7, effective days fall with concentration", () => {
    for (const concentration of [0, 0.5, 1.4, 4]) {
      for (const phase of [0, 0.3, 0.77]) {
        let sum = 0;
        for (let day = 0; day < 7; day++) sum += dayWeight(day, concentration, phase);
        assert.ok(Math.abs(sum - 7) < 1e-9, `κ ${concentration}, phase ${phase}: ${sum}`);
        // The cycle repeats week after week.
        assert.equal(dayWeight(9, concentration, phase), dayWeight(2, concentration, phase));
      }
    }
    assert.ok(Math.abs(effectiveActiveDays(0) - 7) < 1e-12);
    let previous = 7;
    for (const concentration of [0.5, 1, 2, 4]) {
      const days = effectiveActiveDays(concentration);
      assert.ok(days < previous && days > 1, `κ ${concentration}: ${days} days`);
      previous = days;
    }
  });

  test("the demand shape is calibrated to the peak rule's known effect, and an effect no shape reaches is refused", () => {
    const plain: Scenario = { ...quick, demand: { ...quick.demand, day_concentration: 0 } };
    const shape = calibrateDayConcentration(plain, fleet, catalog, policy, 0.05, 0.06);
    assert.ok(shape.dayConcentration > 0, "an even week does not meet it");
    assert.ok(Math.abs(shape.newlyLimited - 0.06) < 0.005, `reached ${shape.newlyLimited}`);
    // Measured again at that shape, with usage re-calibrated, it holds.
    const shaped: Scenario = {
      ...plain,
      resolution_minutes: 30,
      demand: { ...plain.demand, day_concentration: shape.dayConcentration },
    };
    const prepared = prepare(shaped, fleet, catalog, policy);
    const intensityScale = calibrateIntensity(prepared, 0.05);
    const start = Date.parse(shaped.compare.before);
    const reached = peakRuleNewlyLimited(prepared, baselineOptions(start, { intensityScale }), () => {});
    assert.ok(Math.abs(reached - shape.newlyLimited) < 0.002);
    assert.throws(
      () => calibrateDayConcentration(plain, fleet, catalog, policy, 0.05, 0.6),
      /cannot calibrate the demand shape: the peak rule newly limits under 0\.6/,
    );
  });

  test("the Colossus example, calibrated to three public facts: verdicts and the margins they stand on", () => {
    const result = plan(loaded.scenario, fleet, catalog, policy, gpusAt);
    const { before, after } = result;
    // Fact 1: under 5% of subscribers hit a weekly cap (usage per user is scaled to it).
    assert.ok(result.intensityScale > 0 && result.intensityScale !== 1);
    assert.ok(
      before.baseline.weeklyLimitedShare <= 0.05 && before.baseline.weeklyLimitedShare > 0.03,
      `weekly-capped ${before.baseline.weeklyLimitedShare}`,
    );
    // Fact 2 (assumption): the provider ran at capacity before the deal: baseline margin ×1.
    assert.ok(result.calibratedScale > 0 && result.demandScale === result.calibratedScale);
    assert.ok(
      before.breakEvenDemand.baseline.value >= 1 && before.breakEvenDemand.baseline.value < 1.02,
      `baseline margin before ×${before.breakEvenDemand.baseline.value}`,
    );
    // Fact 3: the peak rule newly limits ~7% of subscribers (the week's shape is fitted to it).
    assert.ok(
      result.dayConcentrationCalibrated && result.dayConcentration > 0,
      `κ ${result.dayConcentration}`,
    );
    assert.ok(
      Math.abs(result.peakRuleNewlyLimited - 0.07) < 0.01,
      `peak rule newly limits ${result.peakRuleNewlyLimited}`,
    );
    // Before the deal, at capacity by assumption, doubling the 5-hour limits with the peak rule
    // lifted adds load, so it fails, but by little: weekly caps (unchanged) still bound most of
    // what the heaviest users would add. The margin is the finding, printed with the verdict.
    const edge = before.breakEvenDemand.doubledPeakLifted.value;
    assert.ok(edge > 0.95 && edge < 1, `before: doubling margin ×${edge}`);
    assert.equal(result.conclusions.doubleSessionAndLiftPeak[0], false);
    // It fails on a service level, named, and the busiest hour's queue is what grew.
    assert.ok(before.doubledWithoutPeak.service.missed.length > 0);
    assert.deepEqual(before.baseline.service.missed, []);
    assert.ok(
      before.doubledWithoutPeak.service.worstHour.lateShare > before.baseline.service.worstHour.lateShare,
      `late share doubled ${before.doubledWithoutPeak.service.worstHour.lateShare} vs ${before.baseline.service.worstHour.lateShare}`,
    );
    // The same margin in hardware: a shortfall of reference GPUs, under 5% of the fleet.
    const shortfall = capacityMargin(before, edge);
    assert.ok(shortfall < 0 && -shortfall < 0.05 * before.gpuEquivalents, `${shortfall} GPU-equivalents`);
    // After it (five days into the deal's 25-day ramp, demand 2% up), doubling holds with room
    // to spare, and API limits can rise.
    assert.ok(after.breakEvenDemand.doubledPeakLifted.value > 1.1);
    assert.ok(capacityMargin(after, after.breakEvenDemand.doubledPeakLifted.value) > 0);
    assert.equal(result.conclusions.doubleSessionAndLiftPeak[1], true);
    assert.deepEqual(result.conclusions.raiseApi, [false, true]);
    assert.ok(after.maxApiMultiplier.value >= 2);
    // 100,000 installed before, 2% down; after, the first five days of Colossus 1's ramp.
    assert.equal(before.gpusOnline, 98_000);
    assert.equal(after.gpusOnline, gpusAt(after.startMs));
    assert.ok(after.gpusOnline > 98_000 && after.gpusOnline < 323_400);
  });

  test("sensitivity: demand moves the margin inversely; under calibration capacity inputs cancel before the deal, and would not if it were skipped", () => {
    const result = sensitivity(quick, fleet, catalog, policy, 0.19);
    const demand = result.rows.find((row) => row.factor === "demand");
    assert.ok(demand?.low && demand.high);
    assert.ok(Math.abs(demand.low.after - result.base.after / 0.7) < 1e-9);
    assert.ok(Math.abs(demand.high.after - result.base.after / 1.3) < 1e-9);
    const efficiency = result.rows.find((row) => row.factor === "efficiency");
    assert.ok(efficiency?.low && efficiency.high);
    // The deal's GPUs all of its weakest kind leave less room after the deal than all of its
    // strongest; a stricter time-to-first-token level leaves less than a looser one.
    const mix = result.rows.find((row) => row.factor === "deal GPU mix");
    assert.ok(mix?.low && mix.high, "a deal of several GPU kinds has a mix row");
    assert.deepEqual([mix.lowLabel, mix.highLabel], ["all h100-sxm", "all gb200"]);
    assert.ok(mix.low.after < result.base.after && result.base.after < mix.high.after);
    const ttft = result.rows.find((row) => row.factor === "p95 TTFT level");
    assert.ok(ttft?.low && ttft.high && ttft.low.after <= ttft.high.after);
    for (const factor of ["API demand", "blackwell vs other GPUs"])
      assert.ok(
        result.rows.some((row) => row.factor === factor && row.low && row.high),
        factor,
      );
    // Re-calibrated for each variant: the provider was at capacity whatever its efficiency.
    for (const margin of [efficiency.low.before, efficiency.high.before])
      assert.ok(Math.abs(margin - result.base.before) < 0.05, `before margin ×${margin}`);
    // Without calibration the same 20% less efficiency is a real loss before the deal.
    const fixedDemand: Scenario = {
      ...quick,
      demand: { ...quick.demand, calibrate: "none", scale: 1 },
    };
    const uncalibrated = sensitivity(fixedDemand, fleet, catalog, policy, 0.19);
    const lowEfficiency = uncalibrated.rows.find((row) => row.factor === "efficiency");
    assert.ok(lowEfficiency?.low && lowEfficiency.low.before < 0.9 * uncalibrated.base.before);
  });

  test("API demand as a named share of all tokens: every API figure scaled alike until the baseline meets it", () => {
    const start = Date.parse(quick.compare.before);
    const shareWith = (factor: number) =>
      simulate(
        prepare(withApiDemand(quick, factor), fleet, catalog, policy),
        baselineOptions(start, { intensityScale: quickIntensity }),
      ).apiShare;
    for (const target of [0.2, 0.5]) {
      const factor = calibrateApiDemand(quick, fleet, catalog, policy, target, quickIntensity);
      assert.ok(
        Math.abs(shareWith(factor) - target) < 0.005,
        `${target}: ×${factor} gives ${shareWith(factor)}`,
      );
    }
    // The share rises with the factor: more keys (each wanting as much) and more outside traffic.
    assert.ok(shareWith(2) > shareWith(1) && shareWith(1) > shareWith(0.5));
    const doubled = withApiDemand(quick, 2);
    assert.equal(doubled.demand.api_tokens_per_s.opus, (quick.demand.api_tokens_per_s.opus ?? 0) * 2);
    assert.equal(
      doubled.demand.api_tiers["api-tier-1"]?.keys,
      (quick.demand.api_tiers["api-tier-1"]?.keys ?? 0) * 2,
    );
    // The share of wanted API traffic the tier limits cut does not move with the population.
    const limited = (factor: number) =>
      simulate(
        prepare(withApiDemand(quick, factor), fleet, catalog, policy),
        baselineOptions(start, { intensityScale: quickIntensity }),
      ).apiLimitedShare;
    assert.ok(
      Math.abs(limited(0.25) - limited(1)) < 0.01 && limited(1) > 0.02,
      `${limited(0.25)} vs ${limited(1)}`,
    );
  });

  test("more demand never raises the sustainable multiplier, and four times the demand lowers it", () => {
    const start = Date.parse(quick.compare.before);
    // Demand as a multiple of the calibrated demand (×1 = the baseline at the target).
    const sustainableAt = (relative: number) =>
      largestSustainable(quickPrepared, (m) => ({
        startMs: start,
        sessionMultiplier: m,
        liftPeak: true,
        apiMultiplier: 1,
        demandScale: quickDemand * relative,
        intensityScale: quickIntensity,
      })).multiplier;
    const reference = sustainableAt(0.5);
    assert.ok(sustainableAt(2) < reference, "a model that ignored demand would not move");
    fc.assert(
      fc.property(
        fc.double({ min: 0.5, max: 3, noNaN: true }),
        fc.double({ min: 1, max: 2, noNaN: true }),
        (low, factor) => {
          assert.ok(sustainableAt(low * factor) <= sustainableAt(low));
        },
      ),
      { numRuns: 6 },
    );
  });

  test("the same scenario and seed give the same report; another seed changes the cohorts' habits", () => {
    const shares: number[] = [];
    const stagesSeen: string[] = [];
    const first = plan(quick, fleet, catalog, policy, gpusAt, (done, total, stage) => {
      shares.push(done / total);
      if (stagesSeen.at(-1) !== stage) stagesSeen.push(stage);
    });
    const second = plan(quick, fleet, catalog, policy, gpusAt);
    assert.deepEqual(
      [first.before.maxSessionMultiplier, first.after.maxApiMultiplier, first.before.baseline.service],
      [second.before.maxSessionMultiplier, second.after.maxApiMultiplier, second.before.baseline.service],
    );
    // The bar only moves forward, in small steps (no stage's unused bound is skipped at once),
    // through every stage in order, and ends full.
    for (let i = 1; i < shares.length; i++) {
      const step = (shares[i] as number) - (shares[i - 1] as number);
      assert.ok(step >= 0 && step < 0.05, `progress ${shares[i - 1]} → ${shares[i]} at call ${i}`);
    }
    assert.equal(shares.at(-1), 1);
    assert.equal(stagesSeen.length, 6, stagesSeen.join(" | "));
    // The calibrated scenario again gives the same week; another seed other habits.
    const start = Date.parse(quick.compare.before);
    const week = (seed: number) =>
      simulate(
        prepare({ ...first.scenario, seed }, fleet, catalog, policy),
        baselineOptions(start, { demandScale: first.demandScale, intensityScale: first.intensityScale }),
      ).demand.slice(0, 200);
    assert.deepEqual(Array.from(week(quick.seed)), Array.from(first.before.baseline.demand.slice(0, 200)));
    assert.notDeepEqual(Array.from(week(7)), Array.from(week(quick.seed)));
  });

  test("more GPUs never lower the sustainable 5-hour multiplier (property), and a fleet cut to 1% lowers it", () => {
    const start = Date.parse(quick.compare.before);
    // Half the calibrated demand: room to raise limits, so growth and cuts both show.
    const base = {
      startMs: start,
      sessionMultiplier: 1,
      liftPeak: true,
      apiMultiplier: 1,
      demandScale: quickDemand * 0.5,
      intensityScale: quickIntensity,
    };
    const optionsFor = (m: number) => ({ ...base, sessionMultiplier: m });
    const sustainable = (candidate: typeof fleet) =>
      largestSustainable(prepare(quick, candidate, catalog, policy), optionsFor).multiplier;
    const baseline = sustainable(fleet);
    // The counter-case: if capacity were ignored (or taken from another fleet), this would not move.
    const cut = structuredClone(fleet);
    for (const site of cut.sites) for (const pool of site.pools) pool.count = Math.ceil(pool.count / 100);
    assert.ok(sustainable(cut) < baseline, "a fleet cut to 1% sustains less");
    fc.assert(
      fc.property(
        fc.nat(fleet.sites.length - 1),
        fc.integer({ min: 1_000, max: 100_000 }),
        (siteIndex, extra) => {
          const bigger = structuredClone(fleet);
          const pool = bigger.sites[siteIndex]?.pools[0];
          assert.ok(pool, `site ${siteIndex} has a pool`);
          pool.count += extra;
          pool.from = undefined; // online for the whole period
          const grown = sustainable(bigger);
          assert.ok(grown >= baseline, `${grown} < ${baseline}`);
        },
      ),
      { numRuns: 8 },
    );
  });

  test("headroom plan prints the table and writes SVG charts, an HTML report and a policy the gateway accepts", async () => {
    const result = await runCli(["plan", "--scenario", "examples/colossus-deal.yaml", "--out", dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /5-hour limits can double, peak rule lifted\s+(yes|no)\s+yes/);
    assert.match(result.stdout, /break-even demand, 5-hour ×2 \+ peak lifted\s+×\d\.\d{3}\s+×\d+\.\d{3}/);
    assert.match(
      result.stdout,
      /Demand shape: each subscriber's week in ≈\d\.\d effective active days \(day concentration \d\.\d\d\), calibrated at 30-minute resolution so the peak rule newly limits 7\.0% of subscribers before the deal \(\d\.\d% in this run\)/,
    );
    assert.match(result.stdout, /peak rule newly limits\s+4\.9%\s+9\.1%\s+(×\d\.\d{3}|unreachable) \//);
    assert.match(
      result.stdout,
      /Usage per user: ×0\.\d+ the scenario's, so 5\.0% of subscribers hit a weekly cap/,
    );
    assert.match(result.stdout, /Sensitivity of the margin[\s\S]*efficiency\s+−20%\s+\+20%/);
    for (const file of ["week-before.svg", "week-after.svg", "tornado.svg", "report.html", "policy.yaml"])
      assert.ok(existsSync(join(dir, file)), file);
    assert.match(readFileSync(join(dir, "week-before.svg"), "utf8"), /^<svg/);
    assert.match(readFileSync(join(dir, "report.html"), "utf8"), /<svg[\s\S]*<svg/);
    const [planned] = readPolicyFile(join(dir, "policy.yaml"));
    assert.equal(planned?.plans.pro?.kind === "subscription" && planned.plans.pro.peak, null);
    const proBefore = policy.plans.pro;
    const proAfter = planned?.plans.pro;
    assert.ok(proBefore?.kind === "subscription" && proAfter?.kind === "subscription");
    assert.ok(proAfter.session_budget_usd >= 2 * proBefore.session_budget_usd);
    // Without a terminal, progress is one line per stage on stderr, in order.
    const stages = result.stderr
      .split("\n")
      .filter((line) => line.startsWith("plan: "))
      .map((line) => line.replace(/ \(\d+\.\d s\)$/, ""));
    assert.deepEqual(
      stages.map((line) => line.replace(/\(\d{4}-\d\d-\d\d\)/, "(date)")),
      [
        "plan: calibrating the demand shape",
        "plan: calibrating usage per user, API demand and the demand level",
        "plan: solving the week before (date)",
        "plan: solving the week after (date)",
        "plan: sensitivity: each input moved alone",
        "plan: done",
      ],
      result.stderr,
    );
  });

  test("headroom plan --json prints one object the published schema accepts, margins consistent with the scales", async () => {
    const file = join(dir, "quick.yaml");
    writeFileSync(
      file,
      stringify({
        ...quick,
        fleet: loaded.fleetPath,
        policy_file: loaded.policyPath,
        demand: { ...quick.demand },
      }),
    );
    const result = await runCli(["plan", "--scenario", file, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const json = planJsonSchema.parse(JSON.parse(result.stdout));
    assert.equal(json.calibration, "baseline_at_target");
    assert.equal(json.demand_shape.calibrated, true);
    assert.ok(json.demand_shape.effective_active_days < 7, `${json.demand_shape.effective_active_days} days`);
    // 16 cohorts at 10 minutes measure the calibrated shape more coarsely than the example.
    const newly = json.demand_shape.peak_rule_newly_limited_share;
    assert.ok(Math.abs(newly - 0.07) < 0.03, `peak rule newly limits ${newly}`);
    for (const side of [json.before, json.after]) {
      const expected = side.margin.doubled_peak_lifted * json.demand_scale;
      assert.ok(Math.abs(side.break_even_demand.doubled_peak_lifted - expected) < 1e-9 * expected);
      // The verdict is the service levels' own: met exactly when nothing is missed.
      assert.equal(side.verdicts.double_5h_lift_peak, side.service.doubled_peak_lifted.missed.length === 0);
      const levels = json.service_levels;
      const doubled = side.service.doubled_peak_lifted;
      assert.equal(
        doubled.missed.includes("shed share"),
        doubled.shed_share > levels.max_shed_share,
        JSON.stringify(doubled),
      );
      assert.equal(doubled.missed.includes("p95 time to first token"), doubled.worst_hour.late_share > 0.05);
      // A margin under ×1 needs GPUs; over ×1 has some spare.
      const gpus = side.capacity_margin_gpus ?? 0;
      assert.equal(
        gpus < 0,
        side.margin.doubled_peak_lifted < 1,
        `${gpus} at ×${side.margin.doubled_peak_lifted}`,
      );
    }
    assert.equal(json.before.gpus_online, 98_000);
  });

  test("a bad scenario file is refused with the file and the path inside it", () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      "fleet: f.yaml\npolicy_file: p.yaml\npolicy: x\ncompare: { before: 2026-01-01T00:00:00Z, after: 2026-02-01T00:00:00Z }\ndemand: { time_zone: UTC, hourly_activity: [1, 2], plans: {} }\n",
    );
    assert.throws(
      () => readScenarioFile(file),
      (error: unknown) =>
        error instanceof ConfigError && /bad\.yaml: demand\.hourly_activity/.test(error.message),
    );
  });
});

describe("planner limits as the gateway enforces them", () => {
  /** One plan, one cohort, busy every hour of every day: only the limits shape its demand. */
  function heavyUser(
    days: number,
    planPolicy: NonNullable<typeof policy>,
    weeklyMultiplier = 1,
    liftPeak = true,
  ) {
    const scenario: Scenario = {
      ...quick,
      days,
      resolution_minutes: 60,
      cohorts_per_plan: 1,
      demand: {
        ...quick.demand,
        hourly_activity: Array.from({ length: 24 }, () => 1),
        weekend_factor: 1,
        spread_hours: 0,
        api_tokens_per_s: {},
        api_tiers: {},
        plans: {
          "max-5x": {
            users: 1_000,
            tokens_per_active_minute: 2_000,
            intensity_sigma: 0,
            model_mix: { sonnet: 0.5, opus: 0.5 },
          },
        },
      },
    };
    const prepared = prepare(scenario, fleet, catalog, planPolicy);
    const start = Date.parse(quick.compare.after);
    return simulate(prepared, {
      startMs: start,
      sessionMultiplier: 1,
      liftPeak,
      apiMultiplier: 1,
      weeklyMultiplier,
    });
  }
  const servedInDay = (demand: Float64Array, day: number) =>
    demand.slice(day * 24, (day + 1) * 24).reduce((sum, value) => sum + value, 0);

  test("a weekly cap stops a heavy user within the week and the next week starts fresh", () => {
    const result = heavyUser(14, policy as NonNullable<typeof policy>);
    assert.equal(result.weeklyLimitedShare, 1);
    assert.ok(servedInDay(result.demand, 0) > 0);
    assert.equal(servedInDay(result.demand, 6), 0, "capped before the end of the first week");
    assert.ok(servedInDay(result.demand, 7) > 0, "the weekly window rolled over after 7 days");
  });

  test("a weekly-cap multiplier moves the overall and per-family caps: twice the caps serve more in the week", () => {
    const week = (multiplier: number) =>
      heavyUser(7, policy as NonNullable<typeof policy>, multiplier).demand.reduce(
        (sum, value) => sum + value,
        0,
      );
    assert.ok(week(2) > week(1) * 1.5, "a capped heavy user gets about twice as much");
    assert.ok(week(0.5) < week(1));
  });

  test("a peak multiplier counts against the 5-hour window only, unless the plan names the week too", () => {
    const withPeak = (appliesTo: Array<"5h" | "week">) => {
      const planPolicy = structuredClone(policy as NonNullable<typeof policy>);
      const max = planPolicy.plans["max-5x"];
      assert.ok(max?.kind === "subscription");
      max.peak = {
        time_zone: "UTC",
        weekdays: [1, 2, 3, 4, 5, 6, 7],
        hours: [0, 24],
        mode: "multiplier",
        factor: 2,
        applies_to: appliesTo,
      };
      return heavyUser(7, planPolicy, 1, false).demand.reduce((sum, value) => sum + value, 0);
    };
    // A heavy user is weekly-capped: a week that counts peak usage double serves about half.
    const fiveHourOnly = withPeak(["5h"]);
    const both = withPeak(["5h", "week"]);
    assert.ok(both < fiveHourOnly * 0.75, `${both} vs ${fiveHourOnly}`);
  });

  test("a per-family weekly budget binds: a lower Sonnet cap serves less in the week", () => {
    const withSonnetCap = (usd: number) => {
      const planPolicy = structuredClone(policy as NonNullable<typeof policy>);
      const max = planPolicy.plans["max-5x"];
      assert.ok(max?.kind === "subscription");
      max.weekly_family_budgets_usd = { sonnet: usd };
      return heavyUser(7, planPolicy).demand.reduce((sum, value) => sum + value, 0);
    };
    assert.ok(withSonnetCap(10) < withSonnetCap(80), "a $10 Sonnet cap serves less than $80");
    assert.equal(
      withSonnetCap(80),
      withSonnetCap(1_000),
      "a cap above the overall weekly budget never binds",
    );
  });
});
