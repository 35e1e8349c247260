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
    /** GPUs one fast fabric (NVLink, Infinity Fabric, ICI) joins: 8 on an HGX board, 72 in an NVL72 rack. */
    scale_up_domain: z.number().int().positive().default(8),
    /** Bandwidth per GPU, each direction, inside the scale-up domain. */
    scale_up_gb_s: z.number().positive().default(450),
    /** Bandwidth per GPU, each direction, between domains (the NIC: 400 Gb/s = 50 GB/s). */
    scale_out_gb_s: z.number().positive().default(50),
    source: z.url(),
  })
  .strict();

export type Precision = "bf16" | "fp8" | "fp4";

/**
 * What a real serving stack reaches of the hardware's peaks (src/capacity/step-model.ts);
 * fitted to published measurements in calibration.ts within physical bounds.
 */
export interface Efficiency {
  /** Achieved share of peak HBM bandwidth on weight and KV-cache reads. */
  bandwidth: number;
  /** Achieved share of peak dense FLOPS on GEMMs. */
  compute: number;
  /** Share of GPU memory usable for weights and KV cache (the rest: activations, runtime). */
  memory: number;
  /** Fixed time per layer per step (µs): kernel launches, norms, routing, synchronisation. */
  layerOverheadUs: number;
  /** Achieved share of link bandwidth in collectives. */
  link: number;
  /** Start-up latency of one collective inside the scale-up domain (µs). */
  collectiveUs: number;
  /**
   * Routed-expert tokens of the busiest expert-parallel shard over the mean (routing is uneven:
   * hot experts; 1 = perfectly even). The weights each shard reads are counted, not fitted.
   */
  expertImbalance: number;
  /**
   * Tokens per expert at which a grouped expert GEMM reaches half its FLOPS: small per-expert
   * tiles waste the tensor cores (0 = as efficient as a dense GEMM).
   */
  expertHalfTokens: number;
  /** Fixed time per sequence per step (µs): sampling, scheduling and bookkeeping on the host. */
  sequenceOverheadUs: number;
  /**
   * Share of a dense GEMM's speed a mixture-of-experts layer's token-side work reaches:
   * routing, the gather of each token's hidden state to its experts, ragged grouped GEMMs and
   * the weighted reduction are separate kernels with memory round trips a dense GEMM does not
   * make (1 = as a dense GEMM). Reading the touched experts' weights is not slowed by it.
   */
  moeEfficiency: number;
}

export type Gpu = z.infer<typeof gpuSchema> & {
  /** Calibrated efficiency by weight precision (absent: the roofline's defaults). */
  calibrated?: Partial<Record<Precision, Efficiency>>;
};

export const BYTES_PER_WEIGHT: Record<Precision, number> = { bf16: 2, fp8: 1, fp4: 0.5 };

/**
 * The precision a GPU's GEMMs run at for weights stored at `weights`: natively where its tensor
 * cores support it, else BF16 — kernels without native support (Marlin, Triton's MXFP4 path)
 * dequantise the weights on the fly and multiply in BF16 (W4A16, W8A16).
 */
export function computePrecision(gpu: Gpu, weights: Precision): Precision {
  return typeof gpu[`${weights}_dense_tflops`] === "number" ? weights : "bf16";
}

/** Dense FLOPS for weights at a precision (see computePrecision). */
export function denseFlops(gpu: Gpu, precision: Precision): number {
  const order: Precision[] = [computePrecision(gpu, precision), "bf16"];
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
