import assert from "node:assert/strict";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { loadCalibratedCatalog } from "../../src/capacity/calibration.ts";
import { FleetCapacity } from "../../src/capacity/fleet-capacity.ts";
import { readFleetFile } from "../../src/capacity/timeline.ts";
import { defaultPolicy } from "../../src/plans/default-policy.ts";
import { policySchema } from "../../src/plans/schema.ts";
import { openDatabase } from "../../src/stores/sqlite.ts";
import { SqlitePolicyStore } from "../../src/stores/sqlite-policies.ts";
import type { SimulatedUpstream } from "../../src/upstreams/simulated.ts";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

const fleetFile = resolve("examples/colossus-fleet.yaml");
const deal = Date.parse("2026-05-06T00:00:00Z");
const share = 0.00001;

describe("one truth: the fleet sizes the simulated pool and scales the policies", () => {
  const clock = { now: deal - 3_600_000 };
  const catalog = loadCalibratedCatalog();
  const fleet = new FleetCapacity(readFleetFile(fleetFile, catalog), catalog);
  let server: TestGateway;

  before(async () => {
    server = await startTestGateway({
      clock: () => clock.now,
      plan: "api-tier-2",
      configure(config) {
        config.capacity = { fleet: fleetFile, share };
      },
    });
    // A policy whose limits follow Sonnet capacity, with the capacity before the deal as baseline.
    const scaled = policySchema.parse({
      ...defaultPolicy,
      version: "capacity-scaled",
      effective_from: "2026-01-01T00:00:00Z",
      capacity_scaling: { baseline: fleet.capacityAt(deal - 3_600_000, "sonnet") },
    });
    const db = openDatabase(server.dataDir);
    await new SqlitePolicyStore(db).applyAll([scaled]);
    db.close();
    await waitFor(
      () => server.gateway.policies.inForce(clock.now).version === "capacity-scaled",
      "the gateway to see the capacity-scaled policy",
    );
  });
  after(() => server.stop());

  test("the pool's streams and the API limits grow at the deal's date, by the fleet's own ratio", async () => {
    const pool = (server.gateway.upstreams.get("simulated") as SimulatedUpstream).pool;
    const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    const ask = () =>
      client.messages
        .create({
          model: "claude-sonnet-4-6",
          max_tokens: 5,
          messages: [{ role: "user", content: "sim:tokens=2" }],
        })
        .withResponse();

    const { response: early } = await ask();
    const slotsBefore = pool.slots;
    assert.equal(slotsBefore, fleet.streamsAt(clock.now, share));
    const rpmBefore = Number(early.headers.get("anthropic-ratelimit-requests-limit"));
    assert.equal(rpmBefore, 1_000, "at the baseline capacity the limits are the policy's own");

    // Past the deal's ramp (25 days), with all of Colossus 1 serving.
    clock.now = deal + 26 * 86_400_000;
    const { response: late } = await ask();
    assert.equal(pool.slots, fleet.streamsAt(clock.now, share));
    const ratio = fleet.capacityAt(clock.now, "sonnet") / fleet.capacityAt(deal - 3_600_000, "sonnet");
    assert.ok(ratio > 2.5, `the deal multiplies Sonnet capacity (×${ratio.toFixed(2)})`);
    assert.ok(pool.slots > 2 * slotsBefore);
    assert.equal(Number(late.headers.get("anthropic-ratelimit-requests-limit")), Math.floor(1_000 * ratio));
    // The overview's capacity per family is this gateway's share of the fleet's, not the pool's
    // slots at a catalog speed.
    const overview = (await (
      await fetch(`${server.url}/admin/v1/overview`, {
        headers: { authorization: `Bearer ${server.adminToken}` },
      })
    ).json()) as { families: Array<{ family: string; capacity_tokens_per_second: number | null }> };
    for (const family of ["opus", "sonnet", "haiku"]) {
      const shown = overview.families.find((entry) => entry.family === family)?.capacity_tokens_per_second;
      const expected = fleet.capacityAt(clock.now, family) * share;
      assert.ok(
        shown !== null && shown !== undefined && Math.abs(shown - expected) < 1e-6 * expected,
        family,
      );
    }
  });
});
