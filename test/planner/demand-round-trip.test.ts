import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { loadCalibratedCatalog } from "../../src/capacity/calibration.ts";
import { capacityAt, readFleetFile } from "../../src/capacity/timeline.ts";
import {
  concentrationForActiveDays,
  exportDemand,
  type MeasuredDemand,
} from "../../src/planner/demand-export.ts";
import { plan } from "../../src/planner/plan.ts";
import { readScenarioFile } from "../../src/planner/scenario.ts";
import { readPolicyFile } from "../../src/plans/load-policy.ts";
import type { PopulationSpec } from "../../src/traffic/population.ts";
import { runCli } from "../helpers/cli.ts";
import { drivePopulation, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

/**
 * A population with known parameters goes through a real gateway into its ledger; the export
 * recovers them; a plan from the export reaches the verdicts a plan from the true figures does.
 */
describe("from traffic to demand: the round trip", () => {
  const dir = mkdtempSync(join(tmpdir(), "headroom-round-trip-"));
  const start = Date.UTC(2026, 6, 6); // a Monday
  const clock = { now: start };
  const hourly = Array.from({ length: 24 }, (_, hour) => (hour >= 9 && hour < 17 ? 0.6 : 0));
  const spec: PopulationSpec = {
    plans: { pro: 30, "max-5x": 15 },
    sigma: 0.8,
    outputTokens: 80,
    requestsPerHour: 1,
    mix: {
      pro: { "claude-sonnet-4-6": 0.8, "claude-opus-4-7": 0.2 },
      "max-5x": { "claude-sonnet-4-6": 0.5, "claude-opus-4-7": 0.5 },
    },
    hourly,
    days: 14,
    startMs: start,
    seed: 7,
  };
  let server: TestGateway;
  let measured: MeasuredDemand;
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  before(async () => {
    server = await startTestGateway({ clock: () => clock.now });
    const statuses = await drivePopulation(server, spec, clock);
    assert.deepEqual(Object.keys(statuses), ["200"], JSON.stringify(statuses));
    await server.gateway.ledger.flush();
    const listed = await server.gateway.accounts.listKeys();
    const planOf = new Map(listed.map((key) => [key.id, key.plan]));
    measured = await exportDemand({
      events: server.gateway.ledger.replay(start),
      sinceMs: start,
      untilMs: start + 14 * 86_400_000,
      timeZone: "UTC",
      planOfKey: (id) => planOf.get(id),
      kindOfPlan: (name) => (name.startsWith("api-") ? "api" : "subscription"),
      familyOf: (model) => server.gateway.router.resolve(model)?.entry.family,
    });
  });

  test("the export recovers the population: users, spread, usage per active minute, mix, hours, days", () => {
    const pro = measured.plans.pro;
    const max = measured.plans["max-5x"];
    assert.ok(pro && max);
    assert.equal(pro.users, 30);
    assert.equal(max.users, 15);
    for (const p of [pro, max]) {
      assert.ok(Math.abs(p.intensity_sigma - 0.8) < 0.15, `σ ${p.intensity_sigma}`);
      assert.ok(p.fit.ks_distance < 0.2, `KS ${p.fit.ks_distance}`);
      assert.ok(
        Math.abs(p.tokens_per_active_minute - 80) / 80 < 0.2,
        `${p.tokens_per_active_minute} tokens/min`,
      );
      assert.equal(p.limited_share, 0);
    }
    assert.ok(Math.abs((pro.model_mix.sonnet ?? 0) - 0.8) < 0.08, JSON.stringify(pro.model_mix));
    assert.ok(Math.abs((max.model_mix.opus ?? 0) - 0.5) < 0.1, JSON.stringify(max.model_mix));
    measured.hourly_activity.forEach((share, hour) => {
      if (hour >= 9 && hour < 17) assert.ok(Math.abs(share - 0.6) < 0.1, `${hour}:00 ${share}`);
      else assert.equal(share, 0, `${hour}:00`);
    });
    assert.equal(measured.weekend_factor, 0);
    // Weekdays only: five days a week.
    assert.ok(Math.abs(measured.active_days_per_week - 5) < 0.3, `${measured.active_days_per_week} days`);
    assert.equal(measured.api_tiers["api-tier-1"], undefined);
    assert.equal(measured.measured.accounts, undefined, "no names unless asked");
    const sonnet = measured.families.sonnet;
    assert.ok(
      sonnet && Math.abs(sonnet.output_tokens - 80 * Math.exp(0.32)) / 80 < 0.3,
      JSON.stringify(sonnet),
    );
  });

  test("a plan from the export reaches the verdicts a plan from the true figures does", () => {
    const catalog = loadCalibratedCatalog();
    const example = readScenarioFile("examples/colossus-deal.yaml");
    const fleet = readFleetFile(example.fleetPath, catalog);
    const policy = readPolicyFile(example.policyPath).find((p) => p.version === example.scenario.policy);
    assert.ok(policy);
    const common = {
      ...example.scenario,
      fleet: resolve(example.fleetPath),
      policy_file: resolve(example.policyPath),
      resolution_minutes: 60,
      cohorts_per_plan: 8,
    };
    // The measured population stands for a provider's: each user for 100,000 (users_scale).
    const SCALE = 100_000;
    const demandFile = join(dir, "demand.yaml");
    writeFileSync(demandFile, stringify(measured));
    // Usage per user as measured (a busy workday fills 5-hour windows long before weekly caps, so
    // the example's weekly-cap fact does not apply to this population); the level calibrated.
    const baseDemand = {
      calibrate: "baseline_at_target",
      api_tiers: {},
      api_tokens_per_s: {},
    };
    const truth = {
      ...common,
      demand: {
        ...baseDemand,
        time_zone: "UTC",
        hourly_activity: hourly,
        weekend_factor: 0,
        day_concentration: concentrationForActiveDays(5),
        plans: {
          pro: {
            users: 30 * SCALE,
            tokens_per_active_minute: 80,
            intensity_sigma: 0.8,
            model_mix: { sonnet: 0.8, opus: 0.2 },
          },
          "max-5x": {
            users: 15 * SCALE,
            tokens_per_active_minute: 80,
            intensity_sigma: 0.8,
            model_mix: { sonnet: 0.5, opus: 0.5 },
          },
        },
      },
    };
    const fromLedger = { ...common, demand: { ...baseDemand, from: demandFile, users_scale: SCALE } };
    writeFileSync(join(dir, "truth.yaml"), stringify(truth));
    writeFileSync(join(dir, "ledger.yaml"), stringify(fromLedger));
    const gpus = (ms: number) => capacityAt(fleet, catalog, ms).gpusOnline;
    const a = readScenarioFile(join(dir, "truth.yaml"));
    const b = readScenarioFile(join(dir, "ledger.yaml"));
    assert.equal(b.scenario.demand.plans.pro?.users, 30 * SCALE);
    assert.deepEqual(b.scenario.demand.provenance, {
      time_zone: "measured",
      hourly_activity: "measured",
      weekend_factor: "measured",
      day_concentration: "measured",
      "plans.pro": "measured",
      "plans.max-5x": "measured",
    });
    const fromTruth = plan(a.scenario, fleet, catalog, policy, gpus);
    const fromExport = plan(b.scenario, fleet, catalog, policy, gpus);
    // The before-deal verdict sits at the calibration's knife edge (×1 by construction); what the
    // export must reproduce is each margin, and so every verdict whose margin is clear of ×1.
    const margins = (result: typeof fromTruth) =>
      [result.before, result.after].flatMap((side) => [
        side.breakEvenDemand.baseline.value,
        side.breakEvenDemand.doubledPeakLifted.value,
      ]);
    const truthMargins = margins(fromTruth);
    const exportMargins = margins(fromExport);
    truthMargins.forEach((truthMargin, i) => {
      const ratio = (exportMargins[i] as number) / truthMargin;
      assert.ok(
        Math.abs(ratio - 1) < 0.05,
        `margin ${i}: ×${exportMargins[i]} from the export, ×${truthMargin} from the truth`,
      );
    });
    for (const side of [0, 1] as const) {
      const margin = truthMargins[2 * side + 1] as number;
      if (Math.abs(margin - 1) > 0.05)
        assert.equal(
          fromExport.conclusions.doubleSessionAndLiftPeak[side],
          fromTruth.conclusions.doubleSessionAndLiftPeak[side],
          `side ${side}, margin ×${margin}`,
        );
    }
    assert.ok(
      Math.abs((truthMargins[3] as number) - 1) > 0.05,
      "after the deal the verdict is clear, and compared",
    );
    assert.deepEqual(fromExport.conclusions.raiseApi, fromTruth.conclusions.raiseApi);
  });

  test("headroom demand export reads the same ledger from its data directory; bad flags are refused", async () => {
    const out = join(dir, "cli-demand.yaml");
    const result = await runCli([
      "demand",
      "export",
      "--since",
      new Date(start).toISOString(),
      "--data-dir",
      server.dataDir,
      "--out",
      out,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /45 subscribers on 2 plans, 0 API keys/);
    const bad = await runCli([
      "demand",
      "export",
      "--time-zone",
      "Mars/Olympus",
      "--data-dir",
      server.dataDir,
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown time zone "Mars\/Olympus"/);
  });

  test("refusals count per limit that refused; names appear only when asked", async () => {
    const base = {
      request_id: "",
      account: "",
      key_id: "",
      model: "claude-sonnet-4-6",
      endpoint: "anthropic" as const,
      streamed: false,
      status: 200,
      error_type: null,
      stop_reason: "end_turn",
      input_tokens: 100,
      output_tokens: 50,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 300,
      cache_creation_1h_input_tokens: 0,
      ttft_ms: 10,
      duration_ms: 100,
      on_credits: false,
      billing: "full" as const,
      limited_by: null,
    };
    const at = start + 10 * 3_600_000;
    const events = ["a", "b", "c", "d"].flatMap((who, i) => [
      { ...base, at_ms: at + i, request_id: `ok-${who}`, account: who, key_id: `key-${who}` },
      ...(i < 3
        ? [
            {
              ...base,
              at_ms: at + 60_000 + i,
              request_id: `no-${who}`,
              account: who,
              key_id: `key-${who}`,
              status: 429,
              error_type: "rate_limit_error",
              output_tokens: 0,
              limited_by: i === 2 ? "week" : i === 1 ? "5h" : null,
            },
          ]
        : []),
    ]);
    const exported = await exportDemand({
      events,
      sinceMs: start,
      untilMs: start + 86_400_000,
      timeZone: "UTC",
      planOfKey: () => "pro",
      kindOfPlan: () => "subscription",
      familyOf: () => "sonnet",
      withNames: true,
    });
    const pro = exported.plans.pro;
    assert.equal(pro?.users, 4);
    // Three of four refused; the one whose row predates the column counts only as refused.
    assert.equal(pro?.limited_share, 0.75);
    assert.deepEqual(pro?.limited_by, { "5h": 0.25, week: 0.25 });
    assert.deepEqual(exported.measured.accounts, ["a", "b", "c", "d"]);
    // Cache reads are a share of all input: 300 of 400.
    assert.equal(exported.families.sonnet?.cache_hit_share, 0.75);
  });
});
