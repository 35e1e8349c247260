/**
 * Calibration of the step model against published measurements. Four shares are fitted —
 * HBM bandwidth, GEMM compute, link bandwidth and a fixed per-layer step cost — first once for
 * all hardware, then bandwidth and compute per GPU generation and precision, pulled towards the
 * shared fit so a group with few points cannot wander. Every factor stays inside physical
 * bounds (EFFICIENCY_BOUNDS); a generation with no points uses the shared fit. The held-out
 * checks leave out each model family and each GPU generation in turn.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigError, readYamlFile } from "../config/yaml-file.ts";
import {
  computePrecision,
  type Efficiency,
  type Gpu,
  loadGpuCatalog,
  type Precision,
} from "./gpu-catalog.ts";
import { type Architecture, loadModelCatalog, shapeOf } from "./model-catalog.ts";
import { DEFAULT_EFFICIENCY, type Deployment, predict, type Workload } from "./step-model.ts";

const precision = z.enum(["bf16", "fp8", "fp4"]);

const measurementsSchema = z
  .object({
    points: z.array(
      z
        .object({
          source: z.string().min(1),
          model: z.string().min(1),
          precision,
          gpu: z.string().min(1),
          gpus: z.number().int().positive().optional(),
          replica_gpus: z.number().int().positive().optional(),
          isl: z.number().positive(),
          osl: z.number().positive(),
          tokens_per_s: z.number().positive().optional(),
          tokens_per_s_per_gpu: z.number().positive().optional(),
          tokens_per_s_per_user: z.number().positive().optional(),
          /** What the figure counts: generated tokens (default) or prompt and generated tokens together. */
          counts: z.enum(["output", "total"]).default("output"),
          serving: z.enum(["mixed", "decode-only", "disaggregated"]).optional(),
          kv_bytes: z.number().positive().optional(),
          /** Speculative decoding the run used (multi-token prediction), as the source states it. */
          speculative: z
            .object({ draft_tokens: z.number().int().min(1).max(8), acceptance: z.number().gt(0).lt(1) })
            .strict()
            .optional(),
          url: z.url(),
          note: z.string().optional(),
          /** false: reported, but kept out of the fit (a configuration the model leaves out). */
          fit: z.boolean().default(true),
        })
        .strict()
        .refine(
          (point) => (point.tokens_per_s === undefined) !== (point.tokens_per_s_per_gpu === undefined),
          "give tokens_per_s (with gpus) or tokens_per_s_per_gpu",
        )
        .refine(
          (point) => point.tokens_per_s === undefined || point.gpus !== undefined,
          "tokens_per_s needs gpus",
        ),
    ),
  })
  .strict();

export interface Measurement {
  source: string;
  label: string;
  /** Model family (the architecture's id) and GPU generation, for the held-out checks. */
  family: string;
  generation: string;
  moe: boolean;
  deployment: Deployment;
  workload: Workload;
  /** GPUs per replica where the source fixes them; otherwise the model picks the layout. */
  replicaGpus?: number;
  /** Measured output tokens/s per GPU. */
  tokensPerSecondPerGpu: number;
  url: string;
  /** Whether the fit uses it (all points are reported). */
  fit: boolean;
}

/** Calibration groups: GPUs of one generation running weights at one precision. */
export const groupOf = (gpu: Gpu, weights: Precision) => `${gpu.generation}/${weights}`;

export function loadMeasurements(
  catalog: Map<string, Gpu>,
  models: Map<string, Architecture> = loadModelCatalog(),
  file = new URL("../../data/throughput-measurements.yaml", import.meta.url).pathname,
): Measurement[] {
  const { points } = readYamlFile(file, measurementsSchema);
  return points.map((point, i) => {
    const gpu = catalog.get(point.gpu);
    const architecture = models.get(point.model);
    if (!gpu) throw new ConfigError(`${file}: points.${i}.gpu: no GPU "${point.gpu}" in the catalog`);
    if (!architecture)
      throw new ConfigError(`${file}: points.${i}.model: no model "${point.model}" in data/models.yaml`);
    const perUser = point.tokens_per_s_per_user ? ` at ${point.tokens_per_s_per_user} tok/s/user` : "";
    const speculative = point.speculative
      ? { draftTokens: point.speculative.draft_tokens, acceptance: point.speculative.acceptance }
      : undefined;
    const drafts = speculative ? ` with ${speculative.draftTokens}-token MTP` : "";
    const replica = point.replica_gpus ? ` (replica of ${point.replica_gpus})` : "";
    return {
      source: point.source,
      label: `${point.model} ${point.precision} on ${point.gpu}${replica}, ${point.isl}/${point.osl}${perUser}${drafts}`,
      family: point.model,
      generation: gpu.generation,
      moe: architecture.moe !== undefined,
      deployment: { gpu, model: shapeOf(architecture), precision: point.precision, kvBytes: point.kv_bytes },
      workload: {
        inputTokens: point.isl,
        outputTokens: point.osl,
        targetTokensPerSecondPerUser: point.tokens_per_s_per_user,
        serving: point.serving,
        speculative,
      },
      replicaGpus: point.replica_gpus,
      tokensPerSecondPerGpu:
        (point.tokens_per_s_per_gpu ?? (point.tokens_per_s as number) / (point.gpus as number)) *
        (point.counts === "total" ? point.osl / (point.isl + point.osl) : 1),
      url: point.url,
      fit: point.fit,
    };
  });
}

/**
 * Physical bounds on every fitted factor, and why:
 * - bandwidth 0.60–0.92: streaming kernels reach ≈92% of peak HBM bandwidth (Azure measured
 *   7.35 of 8 TB/s on GB200); a serving stack below 60% would be leaving a bound unexplained.
 * - compute 0.30–0.80: large FP8/BF16 GEMMs sustain 55–80% of dense peak (Azure: 2,744 of
 *   5,000 FP8 TFLOPS on GB200); the small, ragged GEMMs of serving do worse, not better.
 * - link 0.40–0.90: collectives reach 70–85% of NVLink bandwidth at large messages.
 * - layerOverheadUs 5–100: a decode layer runs ten to twenty kernels (norms, projections,
 *   attention, routing, activation), each with 2–5 µs of launch, tail and synchronisation that
 *   no batch amortises, and small matrices that do not reach peak bandwidth.
 * - collectiveUs 3–30: start-up latency of one all-reduce or all-to-all on NVLink (NCCL and
 *   custom one-shot kernels, small messages); four times that between domains.
 * - expertImbalance 1–2.5: the busiest expert shard's tokens over the mean; published expert
 *   load statistics for DeepSeek-V3 and Qwen3 show 1.3–2× before load balancing.
 * - expertHalfTokens 0–128: a grouped GEMM's tensor-core tiles are 64–256 rows; with fewer tokens
 *   per expert than a tile, part of each tile computes padding.
 * - sequenceOverheadUs 0–10: the host samples, schedules and appends each sequence every step;
 *   engines that overlap it with the GPU hide most of it, so a few µs per sequence at most.
 * - moeEfficiency 0.1–1: the token side of a MoE layer (routing, permutation, ragged grouped
 *   GEMMs, weighted reduction) at most as fast as a dense GEMM of the same FLOPs; below a
 *   tenth, the layer's fixed kernels would have to dominate even at thousands of tokens a step.
 */
export const EFFICIENCY_BOUNDS = {
  bandwidth: [0.6, 0.92],
  compute: [0.3, 0.8],
  link: [0.4, 0.9],
  layerOverheadUs: [5, 100],
  collectiveUs: [3, 30],
  expertImbalance: [1, 2.5],
  expertHalfTokens: [0, 128],
  sequenceOverheadUs: [0, 10],
  moeEfficiency: [0.1, 1],
} as const;

type Fitted = keyof typeof EFFICIENCY_BOUNDS;

/**
 * What each factor is expected to be before any measurement, and how far it may plausibly
 * stray: the fit pays PRIOR_WEIGHT × ((value − prior) / spread)² per factor. Without it, a
 * factor the points cannot pin down (the fixed per-layer cost, when no point is at a
 * per-user speed) runs to a bound and absorbs what the model leaves out; with it, such a
 * factor stays near what microbenchmarks show and the data moves only what it can see.
 * Bandwidth: streaming kernels reach 85–92% of HBM peak. Compute: 50–70% of dense peak on
 * serving GEMMs. Links: 60–80% of NVLink in NCCL's large-message tests. Per layer: 10–20
 * kernels of ~1 µs each under CUDA graphs. Collective: one-shot all-reduce ≈ 5–10 µs. Expert
 * imbalance: 1.3× before balancing (DeepSeek-V3's published load statistics). MoE layers:
 * routing, permutation and reduction roughly double a grouped GEMM's time (0.6 ± 0.25).
 */
export const EFFICIENCY_PRIORS: Record<Fitted, { value: number; spread: number }> = {
  bandwidth: { value: 0.85, spread: 0.1 },
  compute: { value: 0.6, spread: 0.15 },
  link: { value: 0.7, spread: 0.15 },
  layerOverheadUs: { value: 15, spread: 15 },
  collectiveUs: { value: 8, spread: 8 },
  expertImbalance: { value: 1.3, spread: 0.4 },
  expertHalfTokens: { value: 32, spread: 32 },
  sequenceOverheadUs: { value: 1, spread: 3 },
  moeEfficiency: { value: 0.6, spread: 0.25 },
};
/** Weight of the priors against the mean absolute log error (a 1-spread miss costs 0.01). */
const PRIOR_WEIGHT = 0.01;
function priorPenalty(efficiency: Efficiency, factors: readonly Fitted[]): number {
  let sum = 0;
  for (const f of factors) {
    const z = (efficiency[f] - EFFICIENCY_PRIORS[f].value) / EFFICIENCY_PRIORS[f].spread;
    sum += z * z;
  }
  return PRIOR_WEIGHT * sum;
}

export const UNCALIBRATED = DEFAULT_EFFICIENCY;

/** The step model's estimate for a measurement's setup. */
export function estimate(measurement: Measurement, efficiency: Efficiency): number {
  return predict(measurement.deployment, measurement.workload, efficiency, measurement.replicaGpus)
    .outputTokensPerSecondPerGpu;
}

const logError = (measurement: Measurement, efficiency: Efficiency) => {
  const estimated = estimate(measurement, efficiency);
  return estimated > 0 ? Math.abs(Math.log(measurement.tokensPerSecondPerGpu / estimated)) : 10;
};

/**
 * A bounded pattern search: try each factor a step up and down, keep what lowers the
 * objective, halve the steps when nothing does. Deterministic, derivative-free (the step
 * model has kinks where the binding term changes) and a few hundred evaluations.
 */
function patternSearch(
  start: Efficiency,
  factors: readonly Fitted[],
  objective: (efficiency: Efficiency) => number,
): Efficiency {
  let best = start;
  let bestValue = objective(best);
  const steps = new Map(factors.map((f) => [f, (EFFICIENCY_BOUNDS[f][1] - EFFICIENCY_BOUNDS[f][0]) / 4]));
  for (let round = 0; round < 8; round++) {
    let improved = true;
    while (improved) {
      improved = false;
      for (const factor of factors) {
        const [low, high] = EFFICIENCY_BOUNDS[factor];
        for (const sign of [1, -1]) {
          const value = Math.min(high, Math.max(low, best[factor] + sign * (steps.get(factor) as number)));
          if (value === best[factor]) continue;
          const candidate = { ...best, [factor]: value };
          const candidateValue = objective(candidate);
          if (candidateValue < bestValue - 1e-12) {
            best = candidate;
            bestValue = candidateValue;
            improved = true;
          }
        }
      }
    }
    for (const factor of factors) steps.set(factor, (steps.get(factor) as number) / 2);
  }
  return best;
}

export interface Calibration {
  /** The fit on every point: used for a generation or precision without its own points. */
  shared: Efficiency;
  /** Per precision over all generations (bandwidth and compute), where it has points. */
  precisions: Map<string, Efficiency>;
  /** Per generation/precision (bandwidth and compute), where the group has points. */
  groups: Map<string, Efficiency>;
}

/** How strongly a group's own factors are pulled to the shared fit (per unit log distance). */
const SHRINKAGE = 0.15;

/**
 * Fits the shared factors on all points (mean absolute log error: robust to the few points
 * whose configuration the model leaves out), then each group's bandwidth and compute shares
 * on its own points with a pull towards the shared fit.
 */
export function fitCalibration(all: readonly Measurement[]): Calibration {
  const measurements = all.filter((measurement) => measurement.fit);
  const meanError = (points: readonly Measurement[], efficiency: Efficiency) =>
    points.reduce((sum, point) => sum + logError(point, efficiency), 0) / Math.max(1, points.length);
  // Several starts across the box: the objective has kinks where a point's binding term or
  // chosen layout changes, and one start can stop in a poor corner.
  const factors = Object.keys(EFFICIENCY_BOUNDS) as Fitted[];
  let shared = UNCALIBRATED;
  let sharedError = Number.POSITIVE_INFINITY;
  for (const at of [0.25, 0.5, 0.75]) {
    const start = { ...UNCALIBRATED };
    for (const factor of factors) {
      const [low, high] = EFFICIENCY_BOUNDS[factor];
      start[factor] = low + at * (high - low);
    }
    const fitted = patternSearch(
      start,
      factors,
      (efficiency) => meanError(measurements, efficiency) + priorPenalty(efficiency, factors),
    );
    const error = meanError(measurements, fitted);
    if (error < sharedError) {
      shared = fitted;
      sharedError = error;
    }
  }
  // Two levels below the shared fit: each precision over all generations, then each
  // generation at that precision, each pulled towards the level above — so a generation with
  // no points of its own still gets what its precision's kernels reach elsewhere.
  const precisions = fitGroups(
    measurements,
    (point) => point.deployment.precision,
    () => shared,
    meanError,
  );
  const groups = fitGroups(
    measurements,
    (point) => groupOf(point.deployment.gpu, point.deployment.precision),
    (point) => precisions.get(point.deployment.precision) ?? shared,
    meanError,
  );
  return { shared, precisions, groups };
}

/** Fits bandwidth and compute per group of points, each pulled towards its parent's factors. */
function fitGroups(
  measurements: readonly Measurement[],
  keyOf: (measurement: Measurement) => string,
  parentOf: (measurement: Measurement) => Efficiency,
  meanError: (points: readonly Measurement[], efficiency: Efficiency) => number,
): Map<string, Efficiency> {
  const members = new Map<string, Measurement[]>();
  for (const measurement of measurements) {
    const key = keyOf(measurement);
    members.set(key, [...(members.get(key) ?? []), measurement]);
  }
  const fitted = new Map<string, Efficiency>();
  for (const [key, points] of members) {
    const parent = parentOf(points[0] as Measurement);
    const pull = (efficiency: Efficiency) =>
      SHRINKAGE *
      (Math.abs(Math.log(efficiency.bandwidth / parent.bandwidth)) +
        Math.abs(Math.log(efficiency.compute / parent.compute)));
    fitted.set(
      key,
      patternSearch(
        parent,
        ["bandwidth", "compute"],
        (efficiency) => meanError(points, efficiency) + pull(efficiency),
      ),
    );
  }
  return fitted;
}

/**
 * The efficiency for a GPU at a precision: its generation's at that precision where fitted,
 * else the precision's over all generations, else the shared fit. Weights the GPU cannot
 * multiply natively (FP4 on Hopper) run other kernels than the native ones elsewhere (they
 * dequantise and multiply in BF16), so they take the generation's own factors at the wider
 * precisions it has fitted before any other generation's native FP4.
 */
export function efficiencyFor(calibration: Calibration, gpu: Gpu, weights: Precision): Efficiency {
  const own = calibration.groups.get(groupOf(gpu, weights));
  if (own) return own;
  if (computePrecision(gpu, weights) !== weights)
    for (const wider of WIDER[weights]) {
      const group = calibration.groups.get(groupOf(gpu, wider));
      if (group) return group;
    }
  return calibration.precisions.get(weights) ?? calibration.shared;
}

const WIDER: Record<Precision, Precision[]> = { fp4: ["fp8", "bf16"], fp8: ["bf16"], bf16: [] };

/** A catalog whose GPUs carry their calibrated efficiency for each precision. */
export function calibrateCatalog(catalog: Map<string, Gpu>, calibration: Calibration): Map<string, Gpu> {
  const calibrated = new Map<string, Gpu>();
  for (const [id, gpu] of catalog) {
    calibrated.set(id, {
      ...gpu,
      calibrated: {
        bf16: efficiencyFor(calibration, gpu, "bf16"),
        fp8: efficiencyFor(calibration, gpu, "fp8"),
        fp4: efficiencyFor(calibration, gpu, "fp4"),
      },
    });
  }
  return calibrated;
}

/** Where the fit of the shipped measurements is kept (scripts/calibrate.ts writes it). */
export const SHIPPED_CALIBRATION = new URL("../../data/calibration.json", import.meta.url).pathname;

/** A calibration as JSON: the shared factors and each level's groups. */
export function calibrationToJson(calibration: Calibration): string {
  return `${JSON.stringify(
    {
      shared: calibration.shared,
      precisions: Object.fromEntries(calibration.precisions),
      groups: Object.fromEntries(calibration.groups),
    },
    null,
    2,
  )}\n`;
}

const efficiencySchema = z
  .object({
    bandwidth: z.number(),
    compute: z.number(),
    memory: z.number(),
    layerOverheadUs: z.number(),
    link: z.number(),
    collectiveUs: z.number(),
    expertImbalance: z.number(),
    expertHalfTokens: z.number(),
    sequenceOverheadUs: z.number(),
    moeEfficiency: z.number(),
  })
  .strict();
const calibrationFileSchema = z
  .object({
    shared: efficiencySchema,
    precisions: z.record(z.string(), efficiencySchema),
    groups: z.record(z.string(), efficiencySchema),
  })
  .strict();

export function calibrationFromJson(text: string): Calibration {
  const parsed = calibrationFileSchema.parse(JSON.parse(text));
  return {
    shared: parsed.shared,
    precisions: new Map(Object.entries(parsed.precisions)),
    groups: new Map(Object.entries(parsed.groups)),
  };
}

let cached: { calibration: Calibration; catalog: Map<string, Gpu> } | undefined;

/**
 * The GPU catalog calibrated against the published measurements. The fit depends only on the
 * shipped data files and takes ≈2 s, so it is kept in data/calibration.json (a test fails when
 * that file is not what a fresh fit gives) and read once per process; without the file it is
 * fitted. Callers get their own copy.
 */
export function loadCalibratedCatalog(): Map<string, Gpu> {
  if (!cached) {
    const catalog = loadGpuCatalog();
    let calibration: Calibration;
    try {
      calibration = calibrationFromJson(readFileSync(SHIPPED_CALIBRATION, "utf8"));
    } catch {
      calibration = fitCalibration(loadMeasurements(catalog));
    }
    cached = { calibration, catalog: calibrateCatalog(catalog, calibration) };
  }
  return new Map(cached.catalog);
}

export interface CalibrationError {
  measurement: Measurement;
  estimated: number;
  /** measured / estimated: 1 is exact; the target is within 1/1.3–1.3. */
  ratio: number;
}

export function errorsOf(measurements: readonly Measurement[], calibration: Calibration): CalibrationError[] {
  return measurements.map((measurement) => {
    const estimated = estimate(
      measurement,
      efficiencyFor(calibration, measurement.deployment.gpu, measurement.deployment.precision),
    );
    return { measurement, estimated, ratio: measurement.tokensPerSecondPerGpu / estimated };
  });
}

/**
 * Held-out errors: for each value of `key` (a model family, a GPU generation), fit on the
 * points without it and predict its points, so the calibration is judged on models and GPUs
 * it has not seen.
 */
export function heldOutErrors(
  measurements: readonly Measurement[],
  key: (measurement: Measurement) => string,
): CalibrationError[] {
  const errors: CalibrationError[] = [];
  for (const value of new Set(measurements.map(key))) {
    const calibration = fitCalibration(measurements.filter((candidate) => key(candidate) !== value));
    errors.push(
      ...errorsOf(
        measurements.filter((candidate) => key(candidate) === value),
        calibration,
      ),
    );
  }
  return errors;
}
