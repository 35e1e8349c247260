/**
 * Serving throughput from first principles (a roofline), per GPU kind, for a model and a
 * workload. Decode steps are bound by memory bandwidth (weights once per step plus each
 * sequence's KV cache) or by compute (2 × active parameters FLOPs per token, the prefill of
 * the prompt's uncached tokens included in proportion); the batch is capped by memory left for
 * the KV cache and, under an interactivity target, by the per-user speed it must keep: a larger
 * batch trades each user's tokens/s for the GPU's (the throughput–interactivity frontier).
 * A measured table overrides the estimate where one exists. Formulas:
 * ../shared/data/capacity.md §b.
 */
import { BYTES_PER_WEIGHT, denseFlops, type Efficiency, type Gpu, type Precision } from "./gpu-catalog.ts";

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
  /**
   * Share of prompt tokens read from the prompt cache (0–1): they skip prefill compute, as they
   * are billed at the cache-read price; their KV cache still occupies memory while decoding.
   */
  cacheHitShare?: number;
  /** Per-user decode speed to keep (tokens/s per stream); none = maximum throughput. */
  targetTokensPerSecondPerUser?: number;
}

export type { Efficiency };

export const DEFAULT_EFFICIENCY: Efficiency = {
  bandwidth: 0.75,
  compute: 0.7,
  memory: 0.9,
  maxBatch: 2_048,
  tpOverhead: 0,
};

export interface Throughput {
  /** Generated tokens per second per GPU at full load. */
  outputTokensPerSecondPerGpu: number;
  /** Prompt tokens per second per GPU when only prefilling (compute-bound). */
  prefillTokensPerSecondPerGpu: number;
  /** Decode speed one sequence sees at that load. */
  decodeTokensPerSecondPerStream: number;
  batch: number;
  /** What limits the batch or the step: memory bandwidth, compute, the interactivity target. */
  bound: "bandwidth" | "compute" | "interactivity" | "does not fit";
  /** False when even a batch of one is slower than the interactivity target. */
  meetsTarget: boolean;
}

export function roofline(
  gpu: Gpu,
  model: ModelProfile,
  workload: Workload,
  efficiency: Efficiency = gpu.calibrated?.[model.precision] ?? DEFAULT_EFFICIENCY,
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
  const memoryBatch = Math.min(
    efficiency.maxBatch,
    Math.floor((memory - weights) / (context * model.kvBytesPerToken)),
  );
  if (memoryBatch < 1) {
    return {
      outputTokensPerSecondPerGpu: 0,
      prefillTokensPerSecondPerGpu: prefillPerGpu,
      decodeTokensPerSecondPerStream: 0,
      batch: 0,
      bound: "does not fit",
      meetsTarget: false,
    };
  }
  // Each generated token also carries its share of its request's prefill (uncached tokens only).
  const uncached = workload.inputTokens * (1 - (workload.cacheHitShare ?? 0));
  const flopsPerOutputToken = 2 * model.activeParams * (1 + uncached / workload.outputTokens);
  const weightBytes = model.activeParams * bytesPerWeight;
  const kvBytesPerSequence = context * model.kvBytesPerToken;
  const communication = 1 + efficiency.tpOverhead * Math.log2(n);
  const stepTime = (b: number) =>
    communication *
    Math.max((weightBytes + b * kvBytesPerSequence) / bandwidth, (b * flopsPerOutputToken) / flops);
  let batch = memoryBatch;
  let meetsTarget = true;
  const target = workload.targetTokensPerSecondPerUser;
  if (target !== undefined && target > 0) {
    // Both terms of the step time grow with the batch: the largest batch whose step still
    // takes at most 1/target, from each term's bound.
    const budget = 1 / (target * communication);
    const byBandwidth = (bandwidth * budget - weightBytes) / kvBytesPerSequence;
    const byCompute = (flops * budget) / flopsPerOutputToken;
    const fastest = Math.floor(Math.min(byBandwidth, byCompute));
    meetsTarget = fastest >= 1;
    batch = Math.max(1, Math.min(memoryBatch, fastest));
  }
  const step = stepTime(batch);
  const computeBound =
    (batch * flopsPerOutputToken) / flops >= (weightBytes + batch * kvBytesPerSequence) / bandwidth;
  return {
    outputTokensPerSecondPerGpu: batch / step / n,
    prefillTokensPerSecondPerGpu: prefillPerGpu,
    decodeTokensPerSecondPerStream: 1 / step,
    batch,
    bound: batch < memoryBatch ? "interactivity" : computeBound ? "compute" : "bandwidth",
    meetsTarget,
  };
}
