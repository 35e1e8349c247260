import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  calibrateCatalog,
  calibrationFromJson,
  calibrationToJson,
  EFFICIENCY_BOUNDS,
  errorsOf,
  fitCalibration,
  groupOf,
  heldOutErrors,
  loadMeasurements,
  SHIPPED_CALIBRATION,
  UNCALIBRATED,
} from "../../src/capacity/calibration.ts";
import { denseFlops, type Gpu, loadGpuCatalog } from "../../src/capacity/gpu-catalog.ts";

const raw = loadGpuCatalog();
const measurements = loadMeasurements(raw);
const fitted = measurements.filter((measurement) => measurement.fit);
const calibration = fitCalibration(measurements);
const within30 = (ratio: number) => ratio >= 1 / 1.3 && ratio <= 1.3;
const share = (errors: { ratio: number }[]) =>
  errors.filter((error) => within30(error.ratio)).length / errors.length;
const meanLogError = (errors: { ratio: number }[]) =>
  errors.reduce((sum, error) => sum + Math.abs(Math.log(error.ratio)), 0) / errors.length;

describe("published measurements the step model is judged on", () => {
  test("at least 30 points from at least 3 publishers; 10 on mixture-of-experts models; 8 at a per-user speed", () => {
    assert.ok(measurements.length >= 30, `${measurements.length} points`);
    const publishers = new Set(measurements.map((point) => point.source.split("-")[0]));
    assert.ok(publishers.size >= 3, [...publishers].join(", "));
    assert.ok(measurements.filter((point) => point.moe).length >= 10);
    assert.ok(
      measurements.filter((point) => point.workload.targetTokensPerSecondPerUser !== undefined).length >= 8,
    );
    for (const point of measurements) assert.match(point.url, /^https:\/\//);
  });
});

describe("calibration", () => {
  test("every fitted factor stays inside its physical bounds, for the shared fit and every group", () => {
    for (const efficiency of [calibration.shared, ...calibration.groups.values()]) {
      for (const [factor, [low, high]] of Object.entries(EFFICIENCY_BOUNDS)) {
        const value = efficiency[factor as keyof typeof EFFICIENCY_BOUNDS];
        assert.ok(value >= low - 1e-12 && value <= high + 1e-12, `${factor} = ${value}`);
      }
    }
  });

  test("the shared fit leaves every factor off its bounds: none absorbs what the model leaves out", () => {
    for (const [factor, [low, high]] of Object.entries(EFFICIENCY_BOUNDS)) {
      const value = calibration.shared[factor as keyof typeof EFFICIENCY_BOUNDS];
      const margin = (high - low) * 0.02;
      assert.ok(value > low + margin && value < high - margin, `${factor} = ${value} sits on a bound`);
    }
  });

  // Measured on the shipped data (docs/capacity.md, "How good is it"): in sample 57 of 66
  // fitted points within ±30%; held out by model family 52 of 66, by GPU generation 19 of 66.
  // The target is 80%: not reached. These bounds guard the documented figures against
  // a regression; they are not tuned to pass.
  test("in sample: at least 83% of fitted points within ±30%, better than uncalibrated", () => {
    const errors = errorsOf(fitted, calibration);
    assert.ok(share(errors) >= 0.83, `${(share(errors) * 100).toFixed(0)}% within ±30%`);
    const uncalibrated = errorsOf(fitted, { shared: UNCALIBRATED, precisions: new Map(), groups: new Map() });
    assert.ok(meanLogError(errors) < meanLogError(uncalibrated), "calibration lowers the error");
  });

  test("held out by model family and by GPU generation: no worse than the documented figures", () => {
    const byFamily = heldOutErrors(measurements, (point) => point.family).filter(
      (error) => error.measurement.fit,
    );
    const byGeneration = heldOutErrors(measurements, (point) => point.generation).filter(
      (error) => error.measurement.fit,
    );
    assert.equal(byFamily.length, fitted.length, "every fitted point is predicted once per check");
    assert.ok(share(byFamily) >= 0.77, `by family: ${(share(byFamily) * 100).toFixed(0)}% within ±30%`);
    assert.ok(
      share(byGeneration) >= 0.28,
      `by generation: ${(share(byGeneration) * 100).toFixed(0)}% within ±30%`,
    );
  });

  test("never fitted: InferenceX's DeepSeek-R1 frontier on B200, GB200 and H100 is predicted within its documented error", () => {
    // Per-user points on the largest MoE model, kept out of the fit: a model that slows the
    // expert weight reads, or leaves out drafting, misses these by 4–45×; one that spreads a
    // long prompt's prefill over every step (so a few users read most experts each step) misses
    // the 7,373-token points by 3–6×. docs/capacity.md: mean |log error| 0.36, 10 of 12 within 2×.
    const frontier = measurements.filter(
      (point) =>
        !point.fit &&
        point.family === "deepseek-r1" &&
        point.workload.targetTokensPerSecondPerUser !== undefined,
    );
    assert.ok(frontier.length >= 12, `${frontier.length} points`);
    const errors = errorsOf(frontier, calibration);
    const logErrors = errors.map((error) => Math.abs(Math.log(error.ratio)));
    const mean = logErrors.reduce((sum, value) => sum + value, 0) / logErrors.length;
    assert.ok(mean <= 0.4, `mean |log error| ${mean.toFixed(3)}`);
    assert.ok(logErrors.filter((value) => value <= Math.log(2)).length >= 10, "10 within 2×");
    for (const error of errors)
      assert.ok(
        error.ratio > 1 / 3 && error.ratio < 3,
        `${error.measurement.label}: measured/estimated ${error.ratio}`,
      );
  });

  test("data/calibration.json is what a fresh fit of the shipped measurements gives", () => {
    assert.equal(
      readFileSync(SHIPPED_CALIBRATION, "utf8"),
      calibrationToJson(calibration),
      "the measurements, catalogs or step model changed: run node --import tsx scripts/calibrate.ts",
    );
    assert.deepEqual(calibrationFromJson(calibrationToJson(calibration)), calibration);
  });

  test("a generation without points uses its precision's fit; a calibrated catalog carries each group's factors", () => {
    const catalog = calibrateCatalog(raw, calibration);
    const h100 = catalog.get("h100-sxm") as Gpu;
    assert.equal(h100.calibrated?.fp8, calibration.groups.get(groupOf(h100, "fp8")));
    assert.equal(
      (catalog.get("mi300x") as Gpu).calibrated?.fp8,
      calibration.precisions.get("fp8"),
      "no AMD points: FP8 over all generations",
    );
    // Hopper has no FP4 tensor cores: its kernels dequantise and multiply in BF16, so FP4
    // weights there take Hopper's own FP8 factors, not Blackwell's native-FP4 ones.
    assert.equal(h100.calibrated?.fp4, calibration.groups.get(groupOf(h100, "fp8")));
    assert.equal(denseFlops(h100, "fp4"), denseFlops(h100, "bf16"));
    const b200 = catalog.get("b200") as Gpu;
    assert.equal(b200.calibrated?.fp4, calibration.groups.get(groupOf(b200, "fp4")));
    assert.equal(denseFlops(b200, "fp4"), 2 * denseFlops(b200, "fp8"));
  });
});
