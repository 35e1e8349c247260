import { z } from "zod";
import { ConfigError, readYamlFile } from "../config/yaml-file.ts";
import { BYTES_PER_WEIGHT, type Gpu, loadGpuCatalog, type Precision } from "./gpu-catalog.ts";
import { DEFAULT_EFFICIENCY, type Efficiency, type ModelProfile, roofline } from "./roofline.ts";

const precision = z.enum(["bf16", "fp8", "fp4"]);

const measurementsSchema = z
  .object({
    models: z.record(
      z.string(),
      z
        .object({
          params_b: z.number().positive(),
          layers: z.number().int().positive(),
          kv_heads: z.number().int().positive(),
          head_dim: z.number().int().positive(),
        })
        .strict(),
    ),
    points: z.array(
      z
        .object({
          source: z.string().min(1),
          model: z.string().min(1),
          precision,
          gpu: z.string().min(1),
          gpus: z.number().int().positive(),
          replica_gpus: z.number().int().positive().optional(),
          isl: z.number().positive(),
          osl: z.number().positive(),
          tokens_per_s: z.number().positive(),
          url: z.url(),
        })
        .strict(),
    ),
  })
  .strict();

export interface Measurement {
  source: string;
  label: string;
  gpu: Gpu;
  model: ModelProfile;
  inputTokens: number;
  outputTokens: number;
  /** Measured output tokens/s per GPU. */
  tokensPerSecondPerGpu: number;
  url: string;
}

/** Calibration groups: GPUs of one generation running weights at one precision. */
export const groupOf = (gpu: Gpu, weights: Precision) => `${gpu.generation}/${weights}`;

export function loadMeasurements(
  catalog: Map<string, Gpu>,
  file = new URL("../../data/throughput-measurements.yaml", import.meta.url).pathname,
): Measurement[] {
  const { models, points } = readYamlFile(file, measurementsSchema);
  return points.map((point, i) => {
    const gpu = catalog.get(point.gpu);
    const shape = models[point.model];
    if (!gpu) throw new ConfigError(`${file}: points.${i}.gpu: no GPU "${point.gpu}" in the catalog`);
    if (!shape) throw new ConfigError(`${file}: points.${i}.model: no model "${point.model}"`);
    // FP4 runs keep an FP8 KV cache; otherwise the cache is stored at the weights' precision.
    const kvBytes = Math.max(1, BYTES_PER_WEIGHT[point.precision]);
    return {
      source: point.source,
      label: `${point.model} ${point.precision} on ${point.gpus}× ${point.gpu}, ${point.isl}/${point.osl}`,
      gpu,
      model: {
        id: point.model,
        totalParams: shape.params_b * 1e9,
        activeParams: shape.params_b * 1e9,
        precision: point.precision,
        kvBytesPerToken: 2 * shape.layers * shape.kv_heads * shape.head_dim * kvBytes,
        gpusPerReplica: point.replica_gpus ?? point.gpus,
      },
      inputTokens: point.isl,
      outputTokens: point.osl,
      tokensPerSecondPerGpu: point.tokens_per_s / point.gpus,
      url: point.url,
    };
  });
}

/** Max-throughput estimate for a measurement's setup at the given efficiency. */
export function estimate(measurement: Measurement, efficiency: Efficiency): number {
  return roofline(
    measurement.gpu,
    measurement.model,
    { inputTokens: measurement.inputTokens, outputTokens: measurement.outputTokens },
    efficiency,
  ).outputTokensPerSecondPerGpu;
}

export type Calibration = Map<string, Efficiency>;

/** Scheduler batch limits tried (serving stacks cap concurrent sequences, e.g. max_num_seqs). */
const BATCH_LIMITS = [64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048];

/** The largest |log(measured / estimated)| over a group: the fit keeps every point close. */
function worstError(members: readonly Measurement[], efficiency: Efficiency): number {
  let worst = 0;
  for (const member of members) {
    worst = Math.max(worst, Math.abs(Math.log(member.tokensPerSecondPerGpu / estimate(member, efficiency))));
  }
  return worst;
}

const percent = (from: number, to: number, step: number) => {
  const values: number[] = [];
  for (let value = Math.max(0, from); value <= to + 1e-9; value += step) values.push(Math.round(value) / 100);
  return values;
};

/**
 * Fits, per group, the shares of peak bandwidth and compute reached, the scheduler's batch limit
 * and the tensor-parallel overhead, minimising the worst log error of the group's points (so no
 * point is sacrificed to the others). A grid search, coarse then fine around the coarse best:
 * exact, reproducible, and safe around the kink between the bandwidth and compute bounds.
 */
export function fitEfficiencies(measurements: readonly Measurement[]): Calibration {
  const groups = new Map<string, Measurement[]>();
  for (const measurement of measurements) {
    const key = groupOf(measurement.gpu, measurement.model.precision);
    groups.set(key, [...(groups.get(key) ?? []), measurement]);
  }
  const fitted: Calibration = new Map();
  for (const [key, members] of groups) {
    const search = (maxBatches: number[], tps: number[], bws: number[], computes: number[]) => {
      let best = { error: Number.POSITIVE_INFINITY, efficiency: DEFAULT_EFFICIENCY };
      for (const maxBatch of maxBatches)
        for (const tpOverhead of tps)
          for (const bandwidth of bws)
            for (const compute of computes) {
              const efficiency = { ...DEFAULT_EFFICIENCY, bandwidth, compute, maxBatch, tpOverhead };
              const error = worstError(members, efficiency);
              if (error < best.error) best = { error, efficiency };
            }
      return best.efficiency;
    };
    const coarse = search(BATCH_LIMITS, percent(0, 20, 4), percent(20, 100, 4), percent(20, 100, 4));
    const around = (value: number, reach: number, floor: number) =>
      percent(Math.max(floor, value * 100 - reach), Math.min(100, value * 100 + reach), 1);
    fitted.set(
      key,
      search(
        [coarse.maxBatch],
        around(coarse.tpOverhead, 4, 0),
        around(coarse.bandwidth, 4, 20),
        around(coarse.compute, 4, 20),
      ),
    );
  }
  return fitted;
}

/**
 * The efficiency for a GPU at a precision: its group's where the group has data, else the same
 * generation's at another precision (the shares are mostly the hardware's and its software
 * stack's), else the roofline's defaults.
 */
export function efficiencyFor(calibration: Calibration, gpu: Gpu, weights: Precision): Efficiency {
  const own = calibration.get(groupOf(gpu, weights));
  if (own) return own;
  for (const other of ["fp8", "fp4", "bf16"] as const) {
    const sibling = calibration.get(groupOf(gpu, other));
    if (sibling) return sibling;
  }
  return DEFAULT_EFFICIENCY;
}

/** A catalog whose GPUs carry their calibrated efficiency for each precision. */
export function calibrateCatalog(catalog: Map<string, Gpu>, calibration: Calibration): Map<string, Gpu> {
  const calibrated = new Map<string, Gpu>();
  for (const [id, gpu] of catalog) {
    const byPrecision = {
      bf16: efficiencyFor(calibration, gpu, "bf16"),
      fp8: efficiencyFor(calibration, gpu, "fp8"),
      fp4: efficiencyFor(calibration, gpu, "fp4"),
    };
    calibrated.set(id, { ...gpu, calibrated: byPrecision });
  }
  return calibrated;
}

/** The GPU catalog calibrated against the published measurements (≈1 s: load it once). */
export function loadCalibratedCatalog(): Map<string, Gpu> {
  const catalog = loadGpuCatalog();
  return calibrateCatalog(catalog, fitEfficiencies(loadMeasurements(catalog)));
}

export interface CalibrationError {
  measurement: Measurement;
  estimated: number;
  /** measured / estimated: 1 is exact; the target is within 0.7–1.3. */
  ratio: number;
}

export function errorsOf(measurements: readonly Measurement[], calibration: Calibration): CalibrationError[] {
  return measurements.map((measurement) => {
    const estimated = estimate(
      measurement,
      efficiencyFor(calibration, measurement.gpu, measurement.model.precision),
    );
    return { measurement, estimated, ratio: measurement.tokensPerSecondPerGpu / estimated };
  });
}

/**
 * The held-out check: for each model, fit on the other models' points and predict this one's,
 * so the calibration is judged on model sizes it has not seen. A point whose group has no data
 * left is skipped.
 */
export function heldOutErrors(measurements: readonly Measurement[]): CalibrationError[] {
  const models = [...new Set(measurements.map((measurement) => measurement.model.id))];
  const errors: CalibrationError[] = [];
  for (const model of models) {
    const calibration = fitEfficiencies(measurements.filter((candidate) => candidate.model.id !== model));
    for (const measurement of measurements.filter((candidate) => candidate.model.id === model)) {
      if (!calibration.has(groupOf(measurement.gpu, measurement.model.precision))) continue;
      errors.push(...errorsOf([measurement], calibration));
    }
  }
  return errors;
}
