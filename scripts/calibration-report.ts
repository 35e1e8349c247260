/**
 * Prints the calibration report docs/capacity.md shows: fitted factors, and every published
 * point's measured / estimated ratio in sample and held out by model family and by GPU
 * generation. Run: node --import tsx scripts/calibration-report.ts
 */
import {
  type CalibrationError,
  errorsOf,
  fitCalibration,
  heldOutErrors,
  loadMeasurements,
} from "../src/capacity/calibration.ts";
import { loadGpuCatalog } from "../src/capacity/gpu-catalog.ts";

const measurements = loadMeasurements(loadGpuCatalog());
process.stderr.write("fitting on all points…\n");
const calibration = fitCalibration(measurements);
process.stderr.write("held out by model family…\n");
const byFamily = heldOutErrors(measurements, (point) => point.family);
process.stderr.write("held out by GPU generation…\n");
const byGeneration = heldOutErrors(measurements, (point) => point.generation);
const inSample = errorsOf(measurements, calibration);
const ratioOf = (errors: CalibrationError[], measurement: CalibrationError["measurement"]) =>
  errors.find((error) => error.measurement === measurement)?.ratio ?? Number.NaN;
const within = (errors: CalibrationError[]) => {
  const fitted = errors.filter((error) => error.measurement.fit);
  const inside = fitted.filter((error) => error.ratio >= 1 / 1.3 && error.ratio <= 1.3).length;
  return `${inside} of ${fitted.length} (${Math.round((100 * inside) / fitted.length)}%)`;
};
const f = (value: number) => value.toFixed(2);
const out: string[] = [];
out.push(
  "| group | bandwidth | compute | link | layer µs | collective µs | expert imbalance | expert half-tokens | sequence µs | MoE layers |",
);
out.push("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const [group, e] of [
  ["shared", calibration.shared] as const,
  ...calibration.precisions,
  ...calibration.groups,
])
  out.push(
    `| ${group} | ${f(e.bandwidth)} | ${f(e.compute)} | ${f(e.link)} | ${e.layerOverheadUs.toFixed(1)} | ${e.collectiveUs.toFixed(1)} | ${f(e.expertImbalance)} | ${e.expertHalfTokens.toFixed(0)} | ${e.sequenceOverheadUs.toFixed(1)} | ${f(e.moeEfficiency)} |`,
  );
out.push("");
out.push(
  `Within ±30% (fitted points): in sample ${within(inSample)}; held out by model family ${within(byFamily)}; by GPU generation ${within(byGeneration)}.`,
);
const neverFitted = inSample.filter((error) => !error.measurement.fit);
const inside = (errors: CalibrationError[], factor: number) =>
  errors.filter((error) => error.ratio >= 1 / factor && error.ratio <= factor).length;
out.push(
  `Never fitted (${neverFitted.length} points, predicted as stated in the data file): ${inside(neverFitted, 1.3)} within ±30%, ${inside(neverFitted, 2)} within 2×.`,
);
out.push("");
out.push(
  "| source | setup | measured tok/s/GPU | estimated | in sample | held out: family | held out: generation |",
);
out.push("| --- | --- | --- | --- | --- | --- | --- |");
for (const error of inSample) {
  const m = error.measurement;
  const mark = m.fit ? "" : " (not fitted)";
  out.push(
    `| ${m.source} | ${m.label}${mark} | ${Math.round(m.tokensPerSecondPerGpu)} | ${Math.round(error.estimated)} | ${f(error.ratio)} | ${f(ratioOf(byFamily, m))} | ${f(ratioOf(byGeneration, m))} |`,
  );
}
process.stdout.write(`${out.join("\n")}\n`);
