import { z } from "zod";
import { readYamlFile } from "../config/yaml-file.ts";

const tflops = z.number().positive().nullable().optional();

export const gpuSchema = z
  .object({
    id: z.string().min(1),
    vendor: z.string().min(1),
    /** Architecture generation: GPUs of one generation share calibrated efficiency factors. */
    generation: z.string().min(1),
    memory_gb: z.number().positive(),
    hbm_bandwidth_tb_s: z.number().positive(),
    bf16_dense_tflops: tflops,
    fp8_dense_tflops: tflops,
    fp4_dense_tflops: tflops,
    int8_tops: tflops,
    tdp_watts: z.number().positive().nullable(),
    interconnect_gb_s: z.number().positive().optional(),
    source: z.url(),
  })
  .strict();

export type Precision = "bf16" | "fp8" | "fp4";

/** Shares of peak a real server reaches (see roofline.ts); fitted in calibration.ts. */
export interface Efficiency {
  /** Achieved share of peak HBM bandwidth. */
  bandwidth: number;
  /** Achieved share of peak dense FLOPS. */
  compute: number;
  /** Share of GPU memory usable for weights and KV cache. */
  memory: number;
  /** Largest batch a server runs (scheduler limit). */
  maxBatch: number;
  /**
   * Tensor-parallel communication: a replica on n GPUs spends this share of a step more per
   * doubling of n (all-reduces between layers), so its step takes (1 + tp × log2 n) as long.
   */
  tpOverhead: number;
}

export type Gpu = z.infer<typeof gpuSchema> & {
  /** Calibrated efficiency by weight precision (absent: the roofline's defaults). */
  calibrated?: Partial<Record<Precision, Efficiency>>;
};

export const BYTES_PER_WEIGHT: Record<Precision, number> = { bf16: 2, fp8: 1, fp4: 0.5 };

/** Dense FLOPS at a precision; a GPU without native support runs it at the next wider one. */
export function denseFlops(gpu: Gpu, precision: Precision): number {
  const order: Precision[] =
    precision === "fp4" ? ["fp4", "fp8", "bf16"] : precision === "fp8" ? ["fp8", "bf16"] : ["bf16"];
  for (const candidate of order) {
    const value = gpu[`${candidate}_dense_tflops`];
    if (typeof value === "number") return value * 1e12;
  }
  throw new Error(`${gpu.id} has no FLOPS figure for ${precision} or wider`);
}

export function loadGpuCatalog(
  file = new URL("../../data/gpus.yaml", import.meta.url).pathname,
): Map<string, Gpu> {
  return new Map(readYamlFile(file, z.array(gpuSchema)).map((gpu) => [gpu.id, gpu]));
}
