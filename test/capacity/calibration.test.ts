import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  calibrateCatalog,
  errorsOf,
  fitEfficiencies,
  heldOutErrors,
  loadMeasurements,
} from "../../src/capacity/calibration.ts";
import { type Gpu, loadGpuCatalog } from "../../src/capacity/gpu-catalog.ts";
import { DEFAULT_EFFICIENCY, type ModelProfile, roofline } from "../../src/capacity/roofline.ts";

const raw = loadGpuCatalog();
const measurements = loadMeasurements(raw);
const calibration = fitEfficiencies(measurements);
const catalog = calibrateCatalog(raw, calibration);
const gpu = (id: string) => catalog.get(id) as Gpu;
const within30 = (ratio: number) => ratio >= 1 / 1.3 && ratio <= 1.3;

describe("calibration against published throughput", () => {
  test("at least six points from at least two sources", () => {
    assert.ok(measurements.length >= 6, `${measurements.length} points`);
    assert.ok(new Set(measurements.map((point) => point.source)).size >= 2);
  });

  test("after calibration every published point is estimated within ±30%", () => {
    for (const { measurement, estimated, ratio } of errorsOf(measurements, calibration)) {
      assert.ok(
        within30(ratio),
        `${measurement.label}: measured ${measurement.tokensPerSecondPerGpu.toFixed(0)}, estimated ${estimated.toFixed(0)}`,
      );
    }
  });

  // Measured on the shipped data: 12 of 18 held-out points within ±30% (worst ×1.47 and ×0.63;
  // docs/capacity.md lists them). The bound below guards against a regression, it is not tuned.
  test("held out (each model predicted from a fit on the others): most within ±30%, far better than uncalibrated", () => {
    const heldOut = heldOutErrors(measurements);
    assert.ok(heldOut.length >= measurements.length / 2, "most points can be predicted");
    const inside = heldOut.filter((error) => within30(error.ratio)).length;
    assert.ok(inside / heldOut.length >= 0.6, `${inside} of ${heldOut.length} held-out points within ±30%`);
    const logError = (ratios: number[]) =>
      ratios.reduce((sum, ratio) => sum + Math.abs(Math.log(ratio)), 0) / ratios.length;
    const uncalibrated = errorsOf(measurements, new Map()).map((error) => error.ratio);
    assert.ok(
      logError(heldOut.map((error) => error.ratio)) < logError(uncalibrated) / 2,
      "held-out error is under half the uncalibrated error",
    );
  });
});

/** A Sonnet-sized example: 40B active, fp8, 8 GPUs a replica (examples/colossus-fleet.yaml). */
const sonnet: ModelProfile = {
  id: "sonnet",
  totalParams: 400e9,
  activeParams: 40e9,
  precision: "fp8",
  kvBytesPerToken: 81_920,
  gpusPerReplica: 8,
};
const agent = { inputTokens: 8_000, outputTokens: 600, cacheHitShare: 0.9 };

describe("throughput that knows interactivity and caching", () => {
  test("a faster per-user target trades throughput per GPU for speed per user, and is met", () => {
    let previous = Number.POSITIVE_INFINITY;
    for (const target of [10, 20, 40, 60, 100]) {
      const result = roofline(gpu("h100-sxm"), sonnet, { ...agent, targetTokensPerSecondPerUser: target });
      assert.ok(result.meetsTarget, `meets ${target} tokens/s per user`);
      assert.ok(result.decodeTokensPerSecondPerStream >= target - 1e-9);
      assert.ok(result.outputTokensPerSecondPerGpu <= previous, `throughput falls as the target rises`);
      previous = result.outputTokensPerSecondPerGpu;
    }
    const unreachable = roofline(gpu("h100-sxm"), sonnet, { ...agent, targetTokensPerSecondPerUser: 5_000 });
    assert.equal(unreachable.meetsTarget, false);
    assert.equal(unreachable.batch, 1);
  });

  test("cached prompt tokens skip prefill: more cache hits never lower throughput, and raise it when compute binds", () => {
    const at = (cacheHitShare: number) =>
      roofline(gpu("h100-sxm"), sonnet, { ...agent, cacheHitShare }).outputTokensPerSecondPerGpu;
    const shares = [0, 0.25, 0.5, 0.75, 0.9, 1];
    for (let i = 1; i < shares.length; i++) assert.ok(at(shares[i] as number) >= at(shares[i - 1] as number));
    assert.ok(at(0.9) > 1.5 * at(0), "prefill of 8,000 uncached tokens dominates compute");
  });

  test("with cached prompts an H200 (more bandwidth and memory) serves more than an H100", () => {
    const h100 = roofline(gpu("h100-sxm"), sonnet, agent).outputTokensPerSecondPerGpu;
    const h200 = roofline(gpu("h200-sxm"), sonnet, agent).outputTokensPerSecondPerGpu;
    assert.ok(h200 > 1.1 * h100, `H200 ${h200.toFixed(0)} vs H100 ${h100.toFixed(0)} tokens/s`);
  });

  test("a calibrated GPU uses its group's efficiency; another precision of the same generation borrows it", () => {
    assert.equal(gpu("h100-sxm").calibrated?.fp8, calibration.get("hopper/fp8"));
    assert.equal(gpu("gb300").calibrated?.fp8, calibration.get("blackwell/fp4"));
    assert.equal(gpu("mi300x").calibrated?.fp8, DEFAULT_EFFICIENCY, "no data for the generation");
  });
});
