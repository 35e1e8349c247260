/**
 * Serving throughput from first principles (a roofline), per GPU kind, for a model and a
 * workload. Decode steps are bound by memory bandwidth (weights once per step plus each
 * sequence's KV cache) or by compute (2 × active parameters FLOPs per token, prefill included
 * in proportion to the prompt); the batch is capped by memory left for the KV cache. A measured
 * table overrides the estimate where one exists. Formulas: ../shared/data/capacity.md §2.
 */
import { BYTES_PER_WEIGHT, denseFlops, type Gpu, type Precision } from "./gpu-catalog.ts";

export interface ModelProfile {
  id: string;
  totalParams: number;
  activeParams: number;
  precision: Precision;
  /** KV-cache bytes per token of context (layers × KV heads × head dim × 2 × bytes). */
  kvBytesPerToken: number;
  gpusPerReplica: number;
}

export interface Workload {
  /** Mean prompt tokens per request. */
  inputTokens: number;
  /** Mean generated tokens per request. */
  outputTokens: number;
}

export interface Efficiency {
  /** Achieved share of peak HBM bandwidth (≈0.6–0.85). */
  bandwidth: number;
  /** Achieved share of peak dense FLOPS (≈0.4–0.7). */
  compute: number;
  /** Share of GPU memory usable for weights and KV cache. */
  memory: number;
  /** Largest batch a server runs (scheduler limit). */
  maxBatch: number;
}

export const DEFAULT_EFFICIENCY: Efficiency = { bandwidth: 0.75, compute: 0.7, memory: 0.9, maxBatch: 1_024 };

export interface Throughput {
  /** Generated tokens per second per GPU at full load. */
  outputTokensPerSecondPerGpu: number;
  /** Prompt tokens per second per GPU when only prefilling (compute-bound). */
  prefillTokensPerSecondPerGpu: number;
  /** Decode speed one sequence sees at that load. */
  decodeTokensPerSecondPerStream: number;
  batch: number;
  bound: "bandwidth" | "compute" | "does not fit";
}

export function roofline(
  gpu: Gpu,
  model: ModelProfile,
  workload: Workload,
  efficiency: Efficiency = DEFAULT_EFFICIENCY,
): Throughput {
  const n = model.gpusPerReplica;
  const bytesPerWeight = BYTES_PER_WEIGHT[model.precision];
  const flops = denseFlops(gpu, model.precision) * efficiency.compute * n;
  const bandwidth = gpu.hbm_bandwidth_tb_s * 1e12 * efficiency.bandwidth * n;
  const memory = gpu.memory_gb * 1e9 * efficiency.memory * n;
  const weights = model.totalParams * bytesPerWeight;
  const prefillPerGpu = flops / n / (2 * model.activeParams);
  // Mean context while decoding: the prompt plus half the reply.
  const context = workload.inputTokens + workload.outputTokens / 2;
  const batch = Math.min(
    efficiency.maxBatch,
    Math.floor((memory - weights) / (context * model.kvBytesPerToken)),
  );
  if (batch < 1) {
    return {
      outputTokensPerSecondPerGpu: 0,
      prefillTokensPerSecondPerGpu: prefillPerGpu,
      decodeTokensPerSecondPerStream: 0,
      batch: 0,
      bound: "does not fit",
    };
  }
  const bandwidthTime =
    (model.activeParams * bytesPerWeight + batch * context * model.kvBytesPerToken) / bandwidth;
  // Each generated token also carries its share of its request's prefill.
  const flopsPerOutputToken = 2 * model.activeParams * (1 + workload.inputTokens / workload.outputTokens);
  const computeTime = (batch * flopsPerOutputToken) / flops;
  const step = Math.max(bandwidthTime, computeTime);
  return {
    outputTokensPerSecondPerGpu: batch / step / n,
    prefillTokensPerSecondPerGpu: prefillPerGpu,
    decodeTokensPerSecondPerStream: 1 / step,
    batch,
    bound: computeTime >= bandwidthTime ? "compute" : "bandwidth",
  };
}
