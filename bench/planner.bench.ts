/**
 * Planning speed: a week at one-minute resolution for 1,000,000 subscription users against the
 * example fleet after the deal (330,000 GPUs, of which 230,000 at the Colossus-class site).
 * Target: a whole `headroom plan` (both demand calibrations, every simulation of both sides,
 * every solver and break-even search, and the sensitivity analysis) under 30 s on a two-core
 * machine.
 */
import { loadCalibratedCatalog } from "../src/capacity/calibration.ts";
import { capacityAt, readFleetFile } from "../src/capacity/timeline.ts";
import { plan } from "../src/planner/plan.ts";
import { readScenarioFile } from "../src/planner/scenario.ts";
import { prepare, simulate } from "../src/planner/simulate.ts";
import { readPolicyFile } from "../src/plans/load-policy.ts";

const catalog = loadCalibratedCatalog();
const loaded = readScenarioFile("examples/colossus-deal.yaml");
const fleet = readFleetFile(loaded.fleetPath, catalog);
const policy = readPolicyFile(loaded.policyPath).find(
  (candidate) => candidate.version === loaded.scenario.policy,
);
if (!policy) throw new Error("policy missing");
const plans = loaded.scenario.demand.plans;
const scenario = {
  ...loaded.scenario,
  resolution_minutes: 1,
  demand: {
    ...loaded.scenario.demand,
    plans: {
      pro: { ...(plans.pro as NonNullable<typeof plans.pro>), users: 700_000 },
      "max-5x": { ...(plans["max-5x"] as NonNullable<(typeof plans)["max-5x"]>), users: 250_000 },
      "max-20x": { ...(plans["max-20x"] as NonNullable<(typeof plans)["max-20x"]>), users: 50_000 },
    },
  },
};
const after = Date.parse(scenario.compare.after);
const users = Object.values(scenario.demand.plans).reduce((sum, demand) => sum + demand.users, 0);
console.log(
  `${users.toLocaleString("en-US")} users, ${capacityAt(fleet, catalog, after).gpusOnline.toLocaleString("en-US")} GPUs, 7 days at 1-minute resolution`,
);

const prepared = prepare(scenario, fleet, catalog, policy);
simulate(prepared, { startMs: after, sessionMultiplier: 1, liftPeak: false, apiMultiplier: 1 }); // warm-up
const started = performance.now();
const result = simulate(prepared, { startMs: after, sessionMultiplier: 2, liftPeak: true, apiMultiplier: 1 });
const oneWeek = (performance.now() - started) / 1000;
const cohortSteps = result.steps * prepared.plans.reduce((sum, p) => sum + p.cohorts.length, 0);
console.log(
  `one simulated week: ${oneWeek.toFixed(3)} s, ${Math.round(cohortSteps / oneWeek).toLocaleString("en-US")} cohort-minutes/s (${Math.round((result.steps * users) / oneWeek).toLocaleString("en-US")} user-minutes/s represented)`,
);

let runs = 0;
const planStarted = performance.now();
plan(
  scenario,
  fleet,
  catalog,
  policy,
  (ms) => capacityAt(fleet, catalog, ms).gpusOnline,
  () => runs++,
);
const whole = (performance.now() - planStarted) / 1000;
console.log(
  `whole plan (calibrations, both sides, every solver, sensitivity; ${runs} simulations): ${whole.toFixed(2)} s; target < 30 s: ${whole < 30 ? "met" : "MISSED"}`,
);
