import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import type { Fleet } from "../../src/capacity/fleet-schema.ts";
import { loadGpuCatalog } from "../../src/capacity/gpu-catalog.ts";
import {
  capacityAt,
  fullFleetServing,
  poolsOnline,
  readFleetFile,
  throughputOf,
} from "../../src/capacity/timeline.ts";
import { ConfigError } from "../../src/config/load.ts";

const catalog = loadGpuCatalog();
const example = readFleetFile("examples/colossus-fleet.yaml", catalog);
const deal = Date.parse("2026-05-06T00:00:00Z");
const dir = mkdtempSync(join(tmpdir(), "headroom-fleet-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const weighted = (fleet: Fleet, at: number) => {
  const capacity = capacityAt(fleet, catalog, at);
  return fleet.models.reduce((sum, model) => sum + (capacity.tokensPerSecond[model.family] ?? 0), 0);
};

describe("capacity timeline", () => {
  test("the deal's pools come online over their ramp from its date, less the GPUs down", () => {
    const day = 86_400_000;
    const before = capacityAt(example, catalog, deal - 1);
    // 100,000 installed before the deal, 2% of them down.
    assert.equal(before.gpusOnline, 98_000);
    assert.equal(capacityAt({ ...example, down_share: 0 }, catalog, deal - 1).gpusOnline, 100_000);
    assert.equal(capacityAt(example, catalog, deal).gpusOnline, 98_000, "nothing on the first instant");
    // Linear over 25 days: each pool's installed part is floor(count × days done / 25).
    const tenDays = poolsOnline(example, catalog, deal + 10 * day).filter(
      (pool) => pool.deal === "Colossus 1",
    );
    assert.deepEqual(
      tenDays.map((pool) => pool.installed).sort((a, b) => a - b),
      [12_000, 20_000, 60_000],
    );
    let last = 0;
    for (let d = 0; d <= 26; d++) {
      const online = capacityAt(example, catalog, deal + d * day).gpusOnline;
      assert.ok(online >= last, `day ${d}: ${online} after ${last}`);
      last = online;
    }
    const after = capacityAt(example, catalog, deal + 25 * day);
    assert.equal(after.gpusOnline, 323_400);
    for (const family of ["opus", "sonnet", "haiku"]) {
      assert.ok((after.tokensPerSecond[family] ?? 0) > 2.5 * (before.tokensPerSecond[family] ?? 0), family);
    }
  });

  test("a site short of power leaves GPUs dark, the least efficient first", () => {
    const small: Fleet = {
      ...example,
      sites: [
        {
          id: "tight",
          kind: "terrestrial",
          power_mw: 10,
          pue: 1.25,
          overhead_watts_per_gpu: 300,
          pools: [
            { gpu: "h100-sxm", count: 10_000 },
            { gpu: "gb200", count: 10_000 },
          ],
        },
      ],
    };
    const pools = poolsOnline(small, catalog, deal);
    const gb200 = pools.find((pool) => pool.gpu === "gb200");
    const h100 = pools.find((pool) => pool.gpu === "h100-sxm");
    // 10 MW at (1,200 + 300) × 1.25 W = 5,333 GB200s; nothing left for H100s.
    assert.equal(gb200?.online, 5_333);
    assert.equal(h100?.online, 0);
  });

  test("more GPUs or more power never lower the fleet's output (property)", () => {
    fc.assert(
      fc.property(
        fc.nat(example.sites.length - 1),
        fc.nat(5),
        fc.integer({ min: 1, max: 200_000 }),
        fc.integer({ min: 0, max: 400 }),
        (siteIndex, poolIndex, extra, extraMw) => {
          const at = deal + 86_400_000;
          const base = weighted(example, at);
          const bigger = structuredClone(example);
          const site = bigger.sites[siteIndex];
          assert.ok(site, `site ${siteIndex} exists`);
          const pool = site.pools[poolIndex % site.pools.length];
          if (pool) pool.count += extra;
          if (site.kind === "terrestrial") site.power_mw += extraMw;
          assert.ok(weighted(bigger, at) >= base - 1e-6);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("an inclined orbit loses GPUs in every eclipse; a dawn-dusk one only in its eclipse season", () => {
    const orbital = (orbit: "inclined" | "dawn-dusk"): Fleet => ({
      ...example,
      down_share: 0,
      sites: [
        {
          id: "sat",
          kind: "orbital",
          altitude_km: 550,
          orbit,
          beta_deg: 0,
          array_m2: 10_000,
          cell_efficiency: 0.3,
          array_degradation_per_year: 0,
          battery_wh: 2_000_000,
          battery_depth_of_discharge: 0.5,
          battery_charge_efficiency: 0.95,
          battery_discharge_efficiency: 0.95,
          radiator_temp_k: 300,
          radiator_emissivity: 0.9,
          radiator_absorptance: 0.2,
          watts_per_gpu: 1_500,
          pools: [{ gpu: "gb300", count: 2_000 }],
        },
      ],
    });
    const period = 95.65 * 60_000;
    const orbitFrom = (start: number) => Array.from({ length: 40 }, (_, i) => start + (i * period) / 40);
    const online = (fleet: Fleet, at: number[]) => at.map((t) => capacityAt(fleet, catalog, t).gpusOnline);
    const inclined = online(orbital("inclined"), orbitFrom(deal));
    assert.ok(Math.min(...inclined) < Math.max(...inclined), "varies over the orbit");
    assert.equal(Math.max(...inclined), 2_000);
    // A dawn–dusk orbit (node at 18:00) at 550 km: β stays beyond β* ≈ 67° in March, dips below
    // it around the June solstice.
    const march = online(orbital("dawn-dusk"), orbitFrom(Date.UTC(2026, 2, 1)));
    assert.deepEqual(new Set(march), new Set([2_000]));
    const june = online(orbital("dawn-dusk"), orbitFrom(Date.UTC(2026, 5, 21)));
    assert.ok(Math.min(...june) < 2_000, "eclipsed at the solstice");
  });

  test("a fleet file naming an unknown GPU is refused with the file and path", () => {
    const file = join(dir, "bad-fleet.yaml");
    writeFileSync(
      file,
      "sites:\n  - { id: x, kind: terrestrial, power_mw: 1, pue: 1.2, pools: [{ gpu: h900, count: 1 }] }\nmodels: []\nallocation: {}\nworkload: { input_tokens: 1, output_tokens: 1 }\n",
    );
    assert.throws(
      () => readFleetFile(file, catalog),
      (error: unknown) => error instanceof ConfigError && /bad-fleet\.yaml: models: /.test(error.message),
    );
    writeFileSync(
      file,
      "sites:\n  - { id: x, kind: terrestrial, power_mw: 1, pue: 1.2, pools: [{ gpu: h900, count: 1 }] }\nmodels: [{ family: f, total_params_b: 1, active_params_b: 1, precision: fp8, kv_bytes_per_token: 1, gpus_per_replica: 1 }]\nallocation: { f: 1 }\nworkload: { input_tokens: 1, output_tokens: 1 }\n",
    );
    assert.throws(
      () => readFleetFile(file, catalog),
      /bad-fleet\.yaml: sites\.0\.pools\.0\.gpu: no GPU "h900"/,
    );
  });
  test("a GPU kind that cannot keep a family's per-user speed serves the other families instead", () => {
    const at = deal + 40 * 86_400_000;
    const opus = example.models.find((model) => model.family === "opus");
    assert.ok(opus);
    // The fastest each kind serves one stream at (a target none keeps: batch 1), and a target
    // between the slowest two: one kind misses it, the others keep it.
    const unreachable = { ...opus, interactivity_tokens_per_s: 100_000 };
    const probe: Fleet = { ...example, models: [unreachable] };
    const fastest = ["h100-sxm", "h200-sxm", "gb200"]
      .map((id) => throughputOf(probe, unreachable, catalog.get(id) as never).decodeTokensPerSecondPerStream)
      .sort((a, b) => a - b);
    const target = ((fastest[0] as number) + (fastest[1] as number)) / 2;
    const strict: Fleet = {
      ...example,
      models: example.models.map((model) =>
        model.family === "opus" ? { ...model, interactivity_tokens_per_s: target } : model,
      ),
    };
    const serving = fullFleetServing(strict, catalog, at);
    const opusAt = serving[strict.models.findIndex((model) => model.family === "opus")];
    assert.ok(
      opusAt && opusAt.slowestTokensPerSPerUser >= target,
      `served at ${opusAt?.slowestTokensPerSPerUser}`,
    );
    // The kinds that left the family give their share to the others: no GPU idles.
    const loose: Fleet = {
      ...strict,
      models: strict.models.map((model) =>
        model.family === "opus" ? { ...model, interactivity_tokens_per_s: 1 } : model,
      ),
    };
    const others = (fleet: Fleet) => {
      const capacity = capacityAt(fleet, catalog, at);
      return (capacity.tokensPerSecond.sonnet ?? 0) + (capacity.tokensPerSecond.haiku ?? 0);
    };
    assert.ok(
      others(strict) > others(loose) * 1.01,
      `sonnet and haiku gain the GPUs opus left: ${others(strict)} against ${others(loose)} (opus at ${target})`,
    );
    // A target no kind keeps: every kind serves the family, at the best speed it reaches.
    const impossible: Fleet = {
      ...example,
      models: example.models.map((model) =>
        model.family === "opus" ? { ...model, interactivity_tokens_per_s: 100_000 } : model,
      ),
    };
    const everywhere = capacityAt(impossible, catalog, at).tokensPerSecond.opus ?? 0;
    assert.ok(everywhere > 0, "still served");
  });
});
