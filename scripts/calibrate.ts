/**
 * Fits the step model to the shipped measurements and writes data/calibration.json, which the
 * gateway and planner read instead of fitting at every start. Run after changing
 * data/throughput-measurements.yaml, data/models.yaml, data/gpus.yaml or the step model:
 *   node --import tsx scripts/calibrate.ts
 * (test/capacity/calibration.test.ts fails while the file differs from a fresh fit).
 */
import { writeFileSync } from "node:fs";
import {
  calibrationToJson,
  fitCalibration,
  loadMeasurements,
  SHIPPED_CALIBRATION,
} from "../src/capacity/calibration.ts";
import { loadGpuCatalog } from "../src/capacity/gpu-catalog.ts";

process.stderr.write("fitting the step model to the published measurements…\n");
writeFileSync(SHIPPED_CALIBRATION, calibrationToJson(fitCalibration(loadMeasurements(loadGpuCatalog()))));
process.stderr.write(`wrote ${SHIPPED_CALIBRATION}\n`);
