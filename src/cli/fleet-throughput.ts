/**
 * `headroom fleet throughput`: the step model's prediction for one configuration (GPU kind,
 * model architecture, precision, sequence lengths, per-user target), on the calibrated catalog.
 */
import type { Command } from "commander";
import { loadCalibratedCatalog } from "../capacity/calibration.ts";
import type { Precision } from "../capacity/gpu-catalog.ts";
import { loadModelCatalog, shapeOf } from "../capacity/model-catalog.ts";
import { DEFAULT_EFFICIENCY, type Prediction, predict, type Speculative } from "../capacity/step-model.ts";
import { formatTable, UsageError } from "./options.ts";

interface ThroughputOptions {
  gpu: string;
  model: string;
  precision: string;
  gpusPerReplica?: string;
  isl: string;
  osl: string;
  cacheHit?: string;
  tokensPerUser?: string;
  decodeOnly?: boolean;
  disaggregated?: boolean;
  draftTokens?: string;
  acceptance?: string;
  json?: boolean;
}

function positive(name: string, text: string, integer = false): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value)))
    throw new UsageError(`--${name} must be a positive ${integer ? "integer" : "number"}, got "${text}"`);
  return value;
}

function speculativeOf(options: ThroughputOptions): Speculative | undefined {
  if (options.draftTokens === undefined) return undefined;
  const draftTokens = positive("draft-tokens", options.draftTokens, true);
  const acceptance = Number(options.acceptance);
  if (!Number.isFinite(acceptance) || acceptance <= 0 || acceptance >= 1)
    throw new UsageError(`--acceptance must be between 0 and 1 (exclusive), got "${options.acceptance}"`);
  return { draftTokens, acceptance };
}

function servingOf(options: ThroughputOptions): "mixed" | "decode-only" | "disaggregated" {
  if (options.decodeOnly && options.disaggregated)
    throw new UsageError("--decode-only and --disaggregated are two ways to serve: give one");
  return options.disaggregated ? "disaggregated" : options.decodeOnly ? "decode-only" : "mixed";
}

export function throughputJson(prediction: Prediction, input: Record<string, unknown>) {
  const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
  return {
    ...input,
    output_tokens_per_s_per_gpu: round(prediction.outputTokensPerSecondPerGpu),
    tokens_per_s_per_user: round(prediction.tokensPerSecondPerUser, 2),
    batch: prediction.batch,
    bound: prediction.bound,
    batch_limit: prediction.batchLimit,
    meets_target: prediction.meetsTarget,
    layout: { gpus_per_replica: prediction.layout.gpus, mode: prediction.layout.mode },
    weights_gb_per_gpu: round(prediction.weightsGbPerGpu, 2),
    step_ms: {
      total: round(prediction.step.totalS * 1e3, 3),
      weights_read: round(prediction.step.weightsS * 1e3, 3),
      kv_read: round(prediction.step.kvS * 1e3, 3),
      compute: round(prediction.step.computeS * 1e3, 3),
      communication: round(prediction.step.communicationS * 1e3, 3),
      overhead: round(prediction.step.overheadS * 1e3, 3),
    },
    prefill_tokens_per_s_per_gpu: round(prediction.prefillTokensPerSecondPerGpu),
    prefill_gpus_per_decode_gpu: Math.round(prediction.prefillGpusPerDecodeGpu * 1000) / 1000,
    prefill_seconds: round(prediction.prefillSeconds, 4),
  };
}

export function registerFleetThroughput(fleet: Command): void {
  fleet
    .command("throughput")
    .description("predicted tokens/s per GPU for one model on one GPU kind (the calibrated step model)")
    .requiredOption("--gpu <id>", "GPU kind from data/gpus.yaml (h100-sxm, h200-sxm, b200, gb200, …)")
    .requiredOption("--model <id>", "model from data/models.yaml (llama-3.3-70b, deepseek-r1, …)")
    .requiredOption("--precision <p>", "weight precision: bf16, fp8 or fp4")
    .option("--gpus-per-replica <n>", "fix the GPUs of one replica (default: the layout that serves most)")
    .option("--isl <n>", "mean prompt tokens", "1000")
    .option("--osl <n>", "mean generated tokens", "1000")
    .option("--cache-hit <share>", "share of prompt tokens served from the prompt cache (0–1)", "0")
    .option("--tokens-per-user <n>", "per-user decode speed to keep (tokens/s); default: maximum throughput")
    .option("--decode-only", "the decode servers alone: prefill runs on other GPUs, not counted")
    .option(
      "--disaggregated",
      "prefill on GPUs of its own, counted: tokens/s per GPU of decode and prefill GPUs together",
    )
    .option("--draft-tokens <n>", "speculative decoding: tokens drafted per step (multi-token prediction)")
    .option("--acceptance <p>", "speculative decoding: chance each drafted token is kept (0–1)", "0.85")
    .option("--json", "print one JSON object")
    .action((options: ThroughputOptions) => {
      const catalog = loadCalibratedCatalog();
      const gpu = catalog.get(options.gpu);
      if (!gpu) throw new UsageError(`no GPU "${options.gpu}"; known: ${[...catalog.keys()].join(", ")}`);
      const models = loadModelCatalog();
      const architecture = models.get(options.model);
      if (!architecture)
        throw new UsageError(`no model "${options.model}"; known: ${[...models.keys()].join(", ")}`);
      if (!["bf16", "fp8", "fp4"].includes(options.precision))
        throw new UsageError(`--precision must be bf16, fp8 or fp4, got "${options.precision}"`);
      const precision = options.precision as Precision;
      const cacheHit = Number(options.cacheHit ?? 0);
      if (!Number.isFinite(cacheHit) || cacheHit < 0 || cacheHit > 1)
        throw new UsageError(`--cache-hit must be between 0 and 1, got "${options.cacheHit}"`);
      const workload = {
        inputTokens: positive("isl", options.isl),
        outputTokens: positive("osl", options.osl),
        cacheHitShare: cacheHit,
        targetTokensPerSecondPerUser:
          options.tokensPerUser === undefined
            ? undefined
            : positive("tokens-per-user", options.tokensPerUser),
        serving: servingOf(options),
        speculative: speculativeOf(options),
      };
      const gpus =
        options.gpusPerReplica === undefined
          ? undefined
          : positive("gpus-per-replica", options.gpusPerReplica, true);
      const efficiency = gpu.calibrated?.[precision] ?? DEFAULT_EFFICIENCY;
      const prediction = predict(
        { gpu, model: shapeOf(architecture), precision },
        workload,
        efficiency,
        gpus,
      );
      const input = {
        gpu: gpu.id,
        model: architecture.id,
        precision,
        isl: workload.inputTokens,
        osl: workload.outputTokens,
        cache_hit: cacheHit,
        target_tokens_per_s_per_user: workload.targetTokensPerSecondPerUser ?? null,
        serving: workload.serving,
        speculative: workload.speculative
          ? { draft_tokens: workload.speculative.draftTokens, acceptance: workload.speculative.acceptance }
          : null,
      };
      const json = throughputJson(prediction, input);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(json)}\n`);
        return;
      }
      if (prediction.batch === 0) {
        process.stdout.write(
          `${architecture.id} ${precision} does not fit ${gpu.id}${gpus ? ` on ${gpus} GPUs` : ""}: ${json.weights_gb_per_gpu} GB of weights per GPU of ${gpu.memory_gb} GB.\n`,
        );
        return;
      }
      const layout = `${prediction.layout.gpus} GPU${prediction.layout.gpus > 1 ? "s" : ""}, ${prediction.layout.mode === "tp" ? "tensor parallel" : "attention data-parallel + expert parallel"}`;
      process.stdout.write(
        `${architecture.id} ${precision} on ${gpu.id} (${layout}), ${workload.inputTokens}/${workload.outputTokens} tokens\n\n`,
      );
      process.stdout.write(
        `${formatTable(
          ["output tok/s per GPU", "tok/s per user", "batch", "bound", "step ms"],
          [
            [
              Math.round(prediction.outputTokensPerSecondPerGpu),
              json.tokens_per_s_per_user,
              prediction.batch,
              prediction.bound,
              json.step_ms.total,
            ],
          ],
        )}\n`,
      );
      const s = json.step_ms;
      process.stdout.write(
        `\nstep: weights ${s.weights_read} ms, KV ${s.kv_read} ms, compute ${s.compute} ms (rooflines per kernel kind), communication ${s.communication} ms, fixed ${s.overhead} ms\n`,
      );
      if (!prediction.meetsTarget)
        process.stdout.write(
          `target of ${workload.targetTokensPerSecondPerUser} tok/s per user not reachable: fastest is ${json.tokens_per_s_per_user}.\n`,
        );
    });
}
