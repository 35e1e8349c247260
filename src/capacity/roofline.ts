/**
 * Throughput of a served model on a GPU kind, as the fleet and planner ask for it: the step
 * model (step-model.ts) with the GPU's calibrated efficiency, its layout chosen unless the
 * fleet fixes the GPUs per replica.
 */
import type { Efficiency, Gpu, Precision } from "./gpu-catalog.ts";
import type { ModelShape } from "./model-catalog.ts";
import { type Bound, DEFAULT_EFFICIENCY, type Layout, predict, type Workload } from "./step-model.ts";

export interface ModelProfile {
  id: string;
  shape: ModelShape;
  precision: Precision;
  /** Fixed GPUs per replica; absent, the layout that serves most is chosen. */
  gpusPerReplica?: number;
}

export type { Efficiency, Workload };
export { DEFAULT_EFFICIENCY };

export interface Throughput {
  /** Generated tokens per second per GPU at full load. */
  outputTokensPerSecondPerGpu: number;
  /** Prompt tokens per second per GPU when only prefilling (compute-bound). */
  prefillTokensPerSecondPerGpu: number;
  /** Decode speed one sequence sees at that load. */
  decodeTokensPerSecondPerStream: number;
  /** Seconds to prefill one uncached prompt on an idle replica: the floor of time to first token. */
  prefillSeconds: number;
  batch: number;
  bound: Bound;
  /** False when even a batch of one is slower than the interactivity target. */
  meetsTarget: boolean;
  layout: Layout;
}

export function roofline(
  gpu: Gpu,
  model: ModelProfile,
  workload: Workload,
  efficiency: Efficiency = gpu.calibrated?.[model.precision] ?? DEFAULT_EFFICIENCY,
): Throughput {
  const prediction = predict(
    { gpu, model: model.shape, precision: model.precision },
    workload,
    efficiency,
    model.gpusPerReplica,
  );
  return {
    outputTokensPerSecondPerGpu: prediction.outputTokensPerSecondPerGpu,
    prefillTokensPerSecondPerGpu: prediction.prefillTokensPerSecondPerGpu,
    decodeTokensPerSecondPerStream: prediction.tokensPerSecondPerUser,
    prefillSeconds: prediction.prefillSeconds,
    batch: prediction.batch,
    bound: prediction.bound,
    meetsTarget: prediction.meetsTarget,
    layout: prediction.layout,
  };
}
