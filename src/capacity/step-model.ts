/**
 * The serving step model: how long one engine step takes on a replica of a model spread over
 * GPUs, and so how many tokens per second per GPU it serves at a per-user speed. A step
 * generates one token for each of the B sequences in the batch and, with chunked prefill,
 * prefills its share of new prompts in the same pass. Its time is
 *
 *   max(bytes read / (HBM bandwidth × η_bw), FLOPs / (peak × η_c)) + collectives + layers × τ
 *
 * per GPU, where the bytes are the always-read weights, the experts the step's tokens touch
 * (a batch of tens touches nearly every expert: E·(1 − (1 − k/E)^T) per layer), and each
 * sequence's KV cache; collectives are tensor-parallel all-reduces or expert-parallel
 * all-to-alls over the links of the domain the replica spans. The batch is capped by the
 * memory left for KV cache, and a per-user target binds through the step time alone: the
 * largest batch whose step still takes at most 1/target. Formulas: docs/capacity.md.
 */
import { BYTES_PER_WEIGHT, denseFlops, type Efficiency, type Gpu, type Precision } from "./gpu-catalog.ts";
import { layerTokens, type ModelShape } from "./model-catalog.ts";

export interface Deployment {
  gpu: Gpu;
  model: ModelShape;
  /** Weight precision. */
  precision: Precision;
  /** Bytes per KV-cache value: FP8 (1) unless the weights are BF16 (2). */
  kvBytes?: number;
}

export interface Workload {
  /** Mean prompt tokens per request. */
  inputTokens: number;
  /** Mean generated tokens per request. */
  outputTokens: number;
  /** Share of prompt tokens read from the prompt cache: they skip prefill; their KV still counts. */
  cacheHitShare?: number;
  /** Per-user decode speed to keep (tokens/s per stream); none = maximum throughput. */
  targetTokensPerSecondPerUser?: number;
  /**
   * mixed: prefill shares the decode steps (chunked prefill). decode-only: the decode servers
   * alone, prefill elsewhere and not counted. disaggregated: decode servers and the prefill
   * GPUs that keep them fed, both counted (tokens/s per GPU of the whole deployment).
   */
  serving?: "mixed" | "decode-only" | "disaggregated";
  /** Speculative decoding (multi-token prediction or a draft model); none = one token a step. */
  speculative?: Speculative;
}

/**
 * Speculative decoding: each step drafts `draftTokens` more tokens per sequence and verifies
 * them in the same pass; each draft is kept with probability `acceptance` while the ones
 * before it were (DeepSeek-V3 reports 85–90% for its second token).
 */
export interface Speculative {
  draftTokens: number;
  acceptance: number;
}

/** Mean tokens a sequence gains per step: 1 + p + p² + … + p^d. */
export function emittedPerStep(workload: Workload): number {
  const spec = workload.speculative;
  if (!spec || spec.draftTokens <= 0) return 1;
  let sum = 1;
  for (let i = 1; i <= spec.draftTokens; i++) sum += spec.acceptance ** i;
  return sum;
}

/** Tokens per sequence a step runs through the model: the one it decodes and the drafts it verifies. */
const verifiedPerStep = (workload: Workload) => 1 + Math.max(0, workload.speculative?.draftTokens ?? 0);

/**
 * How a replica spreads over its GPUs. tp: every layer tensor-parallel over all of them (two
 * all-reduces a layer). ep: attention data-parallel (each GPU holds the always-read weights and
 * its own sequences), routed experts spread over the GPUs, tokens sent to their experts and back
 * (an all-to-all each way per MoE layer).
 */
export interface Layout {
  gpus: number;
  mode: "tp" | "ep";
}

export interface StepTime {
  weightsS: number;
  kvS: number;
  computeS: number;
  communicationS: number;
  overheadS: number;
  totalS: number;
}

export type Bound = "interactivity" | "bandwidth" | "compute" | "communication" | "overhead" | "does not fit";

export interface Prediction {
  layout: Layout;
  /** Generated tokens per second per GPU at full load. */
  outputTokensPerSecondPerGpu: number;
  /** Decode speed each sequence sees at that load (tokens gained per step / step time). */
  tokensPerSecondPerUser: number;
  /** Concurrent sequences on one replica. */
  batch: number;
  /** What stops the batch growing: KV memory, the per-user target, or nothing fits. */
  batchLimit: "memory" | "interactivity" | "scheduler" | "does not fit";
  /** What binds: the per-user target when it caps the batch, else the step's largest term. */
  bound: Bound;
  meetsTarget: boolean;
  step: StepTime;
  /** Prompt tokens per second per GPU when only prefilling (compute-bound). */
  prefillTokensPerSecondPerGpu: number;
  /** Time to prefill one uncached prompt on an idle replica (seconds): the floor of time to first token. */
  prefillSeconds: number;
  /** Disaggregated serving: prefill GPUs each decode GPU needs (0 otherwise). */
  prefillGpusPerDecodeGpu: number;
  weightsGbPerGpu: number;
}

/** Before calibration: mid-range shares (calibration.ts fits them to published measurements). */
export const DEFAULT_EFFICIENCY: Efficiency = {
  bandwidth: 0.8,
  compute: 0.55,
  memory: 0.9,
  layerOverheadUs: 20,
  link: 0.7,
  collectiveUs: 10,
  expertImbalance: 1.3,
  expertHalfTokens: 0,
  sequenceOverheadUs: 0,
  moeEfficiency: 0.6,
};

/** A collective between domains (through NICs and switches) starts this many times slower than inside one. */
const ACROSS_DOMAINS_LATENCY_FACTOR = 4;
/** Activations cross the links in BF16; tokens are dispatched to experts in FP8. */
const ACTIVATION_BYTES = 2;
const DISPATCH_BYTES = 1;
/** Serving stacks cap concurrent sequences per GPU (TensorRT-LLM's default max batch is 2,048). */
const SCHEDULER_MAX_BATCH_PER_GPU = 2_048;

/** Bytes a stored weight takes at a precision: FP4 formats carry a scale per block of values. */
function bytesPerWeight(model: ModelShape, precision: Precision): number {
  return precision === "fp4" ? model.fp4BytesPerWeight : BYTES_PER_WEIGHT[precision];
}

/** Bytes of the always-read weights: the quantized part at the checkpoint's precision, the rest BF16. */
function alwaysReadBytes(model: ModelShape, precision: Precision): number {
  const bf16 = model.bf16AlwaysParams;
  return (model.alwaysParams - bf16) * bytesPerWeight(model, precision) + bf16 * BYTES_PER_WEIGHT.bf16;
}

/** Parameters a token's FLOPs run through: the always-read part and its k routed experts. */
const computeParams = (model: ModelShape) =>
  model.alwaysParams + model.expertsPerToken * model.moeLayers * model.paramsPerExpertLayer;

const kvBytesOf = (deployment: Deployment) => deployment.kvBytes ?? (deployment.precision === "bf16" ? 2 : 1);

/** Mean context a decoding sequence holds: the prompt plus half the reply. */
const meanContext = (workload: Workload) => workload.inputTokens + workload.outputTokens / 2;

/**
 * KV cache a sequence is admitted with: the whole prompt and reply. A scheduler that never
 * evicts (TensorRT-LLM's default, GUARANTEED_NO_EVICT) admits a request only when its full
 * length fits; one that preempts (vLLM) runs fuller but recomputes what it evicts, which a
 * service with a per-user speed cannot afford either.
 */
const reservedContext = (workload: Workload) => workload.inputTokens + workload.outputTokens;

function kvValuesPerSequence(model: ModelShape, context: number): number {
  return model.kvValuesPerLayer * layerTokens(model, context);
}

/** Prompt tokens each decode step also prefills (chunked prefill) per sequence in the batch. */
function prefillPerDecodeToken(workload: Workload): number {
  if (workload.serving === "decode-only" || workload.serving === "disaggregated") return 0;
  return (workload.inputTokens * (1 - (workload.cacheHitShare ?? 0))) / workload.outputTokens;
}

/** Expected distinct experts, of E, that T tokens choosing k each touch in one layer. */
export function expertsTouched(model: ModelShape, tokens: number): number {
  if (model.experts === 0) return 0;
  return model.experts * (1 - (1 - model.expertsPerToken / model.experts) ** tokens);
}

/**
 * Expected experts touched on the busiest of `shards` GPUs that hold E/shards experts each:
 * each expert is touched independently with probability p, so a shard's count is binomial and
 * the step waits for the largest of them, E[max] = Σ_m P(max ≥ m).
 */
export function busiestShardExperts(model: ModelShape, tokens: number, shards: number): number {
  if (model.experts === 0) return 0;
  const perShard = Math.max(1, Math.round(model.experts / shards));
  if (shards <= 1) return expertsTouched(model, tokens);
  const p = 1 - (1 - model.expertsPerToken / model.experts) ** tokens;
  if (p >= 1) return perShard;
  let cdf = 0;
  let mass = (1 - p) ** perShard;
  let expectedMax = 0;
  for (let m = 0; m < perShard; m++) {
    cdf += mass;
    expectedMax += 1 - Math.min(1, cdf) ** shards;
    mass *= ((perShard - m) / (m + 1)) * (p / (1 - p));
  }
  return expectedMax;
}

/**
 * Prompt tokens a prefill chunk carries: engines split prompts into chunks of their token budget
 * per step (TensorRT-LLM's `max_num_tokens`, vLLM's `max_num_batched_tokens` and SGLang's
 * `chunked_prefill_size` all default to 8,192) and run one chunk with the decode tokens of a step.
 */
export const PREFILL_CHUNK_TOKENS = 8_192;

/**
 * Experts a step reads, averaged over steps, on the busiest of `shards` GPUs (1: all of them).
 * Prefill arrives in chunks, not spread evenly: with P prompt tokens per step on average and
 * P below a chunk C, one step in C/P carries a whole chunk (which touches nearly every expert)
 * and the others only their decode tokens. Spreading the chunk instead (`d + P` tokens every
 * step) would make a few-user batch on a long prompt read most experts every step.
 */
export function expertsReadPerStep(
  model: ModelShape,
  decodeTokens: number,
  prefillTokens: number,
  shards: number,
): number {
  const read = (tokens: number) =>
    shards <= 1 ? expertsTouched(model, tokens) : busiestShardExperts(model, tokens, shards);
  if (prefillTokens <= 0 || prefillTokens >= PREFILL_CHUNK_TOKENS) return read(decodeTokens + prefillTokens);
  const chunkShare = prefillTokens / PREFILL_CHUNK_TOKENS;
  return (1 - chunkShare) * read(decodeTokens) + chunkShare * read(decodeTokens + PREFILL_CHUNK_TOKENS);
}

/** Attention-parallel degree: how many GPUs split one sequence's heads. */
const attentionSplit = (layout: Layout) => (layout.mode === "tp" ? layout.gpus : 1);

/** GPUs sharing one KV shard: KV heads beyond the split are replicated, an MLA latent always is. */
function kvShare(model: ModelShape, layout: Layout): number {
  return 1 / Math.min(attentionSplit(layout), model.kvSplit);
}

export function weightBytesPerGpu(deployment: Deployment, layout: Layout): number {
  const { model, precision } = deployment;
  const routed = model.experts * model.moeLayers * model.paramsPerExpertLayer;
  // Tensor parallel splits the always-read part and the embedding table; expert parallel
  // keeps a copy of both on every GPU.
  const split = layout.mode === "tp" ? layout.gpus : 1;
  const always = alwaysReadBytes(model, precision) / split;
  const embedding = (model.embeddingParams * BYTES_PER_WEIGHT.bf16) / split;
  return always + embedding + (routed * bytesPerWeight(model, precision)) / layout.gpus;
}

/** The largest batch the replica's memory holds, 0 when the weights alone do not fit. */
export function memoryBatch(
  deployment: Deployment,
  layout: Layout,
  workload: Workload,
  efficiency: Efficiency,
): number {
  const free = deployment.gpu.memory_gb * 1e9 * efficiency.memory - weightBytesPerGpu(deployment, layout);
  if (free <= 0) return 0;
  const perSequence =
    kvValuesPerSequence(deployment.model, reservedContext(workload)) *
    kvBytesOf(deployment) *
    kvShare(deployment.model, layout);
  const sequencesPerGpu = Math.floor(free / perSequence);
  // Sequences live on one GPU each (ep) or are split over all (tp).
  const replicaBatch = layout.mode === "tp" ? sequencesPerGpu : sequencesPerGpu * layout.gpus;
  return Math.min(replicaBatch, SCHEDULER_MAX_BATCH_PER_GPU * layout.gpus);
}

function linkOf(gpu: Gpu, layout: Layout) {
  const inside = layout.gpus <= gpu.scale_up_domain;
  return {
    bandwidth: (inside ? gpu.scale_up_gb_s : gpu.scale_out_gb_s) * 1e9,
    latencyFactor: inside ? 1 : ACROSS_DOMAINS_LATENCY_FACTOR,
  };
}

function communicationSeconds(
  deployment: Deployment,
  layout: Layout,
  tokens: number,
  efficiency: Efficiency,
): number {
  const n = layout.gpus;
  if (n === 1) return 0;
  const { model, gpu } = deployment;
  const link = linkOf(gpu, layout);
  const bandwidth = link.bandwidth * efficiency.link;
  const latency = efficiency.collectiveUs * 1e-6 * link.latencyFactor;
  if (layout.mode === "tp") {
    // Two ring all-reduces of the step's activations per layer.
    const message = tokens * model.hidden * ACTIVATION_BYTES;
    return model.layers * 2 * ((2 * (n - 1) * message) / (n * bandwidth) + latency);
  }
  // Each GPU sends its tokens' hidden states to the experts they chose and takes the results back.
  const perGpuTokens = tokens / n;
  const bytes = perGpuTokens * model.expertsPerToken * model.hidden * (DISPATCH_BYTES + ACTIVATION_BYTES);
  return model.moeLayers * (((n - 1) / n) * (bytes / bandwidth) + 2 * latency);
}

/** Time of one step with `batch` sequences decoding on one replica. */
export function stepTime(
  deployment: Deployment,
  layout: Layout,
  batch: number,
  workload: Workload,
  efficiency: Efficiency,
): StepTime {
  const { model, gpu } = deployment;
  const n = layout.gpus;
  const expertWeightBytes = bytesPerWeight(model, deployment.precision);
  // Prefill keeps pace with what the step emits; verification runs every drafted token.
  const prefillTokens = batch * emittedPerStep(workload) * prefillPerDecodeToken(workload);
  const decodeTokens = batch * verifiedPerStep(workload);
  const tokens = decodeTokens + prefillTokens;
  // Each kind of work runs as its own kernels, bound by its own roofline: the always-read
  // GEMMs, the routed-expert GEMMs (near the ridge when a step gives each expert few tokens),
  // and attention over the KV cache.
  const alwaysBytes = alwaysReadBytes(model, deployment.precision) / (layout.mode === "tp" ? n : 1);
  // Tensor parallel: every GPU reads a slice of each touched expert. Expert parallel: each reads
  // its own touched experts, and the step waits for the GPU that touched most.
  const touched = expertsReadPerStep(model, decodeTokens, prefillTokens, 1);
  const expertsRead =
    layout.mode === "tp" ? touched / n : expertsReadPerStep(model, decodeTokens, prefillTokens, n);
  const expertBytes = model.moeLayers * expertsRead * model.paramsPerExpertLayer * expertWeightBytes;
  const tokensPerExpert = (tokens * model.expertsPerToken) / Math.max(1, touched);
  const expertGemmShare =
    model.experts === 0 || efficiency.expertHalfTokens === 0
      ? 1
      : tokensPerExpert / (tokensPerExpert + efficiency.expertHalfTokens);
  const context = meanContext(workload);
  const kvBytes =
    (batch / (layout.mode === "tp" ? 1 : n)) *
    kvValuesPerSequence(model, context) *
    kvBytesOf(deployment) *
    kvShare(model, layout);
  const bandwidth = gpu.hbm_bandwidth_tb_s * 1e12 * efficiency.bandwidth;
  const gemmFlops = denseFlops(gpu, deployment.precision) * efficiency.compute;
  const routedActive = computeParams(model) - model.alwaysParams;
  const alwaysFlops = (2 * model.alwaysParams * tokens) / n;
  const expertFlops = (2 * routedActive * tokens) / n;
  // Scores and values over the context, in BF16: decode tokens see the mean context, prefill
  // tokens half their prompt.
  const attentionFlops =
    (4 *
      model.attentionWidth *
      (decodeTokens * layerTokens(model, context) +
        prefillTokens * layerTokens(model, workload.inputTokens / 2))) /
    n;
  const alwaysS = Math.max(alwaysBytes / bandwidth, alwaysFlops / gemmFlops);
  // Expert parallel: the step waits for the shard that routing gave most tokens.
  const tokenImbalance = layout.mode === "ep" ? efficiency.expertImbalance : 1;
  // Streaming a touched expert's weights runs at HBM speed like any other read; what MoE layers
  // lose is on the token side (routing, gathering each token to its experts, ragged grouped
  // GEMMs, the weighted reduction), so moeEfficiency slows the compute, not the weight reads.
  const expertS = Math.max(
    expertBytes / bandwidth,
    (tokenImbalance * expertFlops) / (gemmFlops * expertGemmShare * efficiency.moeEfficiency),
  );
  const attentionS = Math.max(
    kvBytes / bandwidth,
    attentionFlops / (denseFlops(gpu, "bf16") * efficiency.compute),
  );
  const weightsS = (alwaysBytes + expertBytes) / bandwidth;
  const kvS = kvBytes / bandwidth;
  const computeS =
    (alwaysFlops + expertFlops) / gemmFlops + attentionFlops / (denseFlops(gpu, "bf16") * efficiency.compute);
  const communicationS = communicationSeconds(deployment, layout, tokens, efficiency);
  // Each draft token runs a one-layer head (DeepSeek's MTP module; a small draft model costs
  // about as much): one more layer's weights, work and fixed cost per draft.
  const drafts = Math.max(0, workload.speculative?.draftTokens ?? 0);
  const draftS = (drafts * (alwaysS + expertS + attentionS)) / model.layers;
  const overheadS =
    ((model.layers + drafts) * efficiency.layerOverheadUs + batch * efficiency.sequenceOverheadUs) * 1e-6;
  return {
    weightsS,
    kvS,
    computeS,
    communicationS,
    overheadS,
    totalS: alwaysS + expertS + attentionS + draftS + communicationS + overheadS,
  };
}

function boundOf(step: StepTime): Exclude<Bound, "interactivity" | "does not fit"> {
  const memory = step.weightsS + step.kvS;
  const terms: [Exclude<Bound, "interactivity" | "does not fit">, number][] = [
    ["bandwidth", memory],
    ["compute", step.computeS],
    ["communication", step.communicationS],
    ["overhead", step.overheadS],
  ];
  return terms.reduce((best, term) => (term[1] > best[1] ? term : best))[0];
}

/** Throughput of one layout: the largest batch memory holds whose step keeps the per-user target. */
export function predictLayout(
  deployment: Deployment,
  layout: Layout,
  workload: Workload,
  efficiency: Efficiency,
): Prediction {
  const { model, gpu } = deployment;
  const prefillPerGpu =
    (denseFlops(gpu, deployment.precision) * efficiency.compute) / (2 * computeParams(model));
  const uncachedPrompt = workload.inputTokens * (1 - (workload.cacheHitShare ?? 0));
  const common = {
    layout,
    prefillTokensPerSecondPerGpu: prefillPerGpu,
    prefillSeconds: uncachedPrompt / (prefillPerGpu * layout.gpus),
    weightsGbPerGpu: weightBytesPerGpu(deployment, layout) / 1e9,
  };
  const most = memoryBatch(deployment, layout, workload, efficiency);
  if (most < 1) {
    const step = stepTime(deployment, layout, 1, workload, efficiency);
    return {
      ...common,
      outputTokensPerSecondPerGpu: 0,
      tokensPerSecondPerUser: 0,
      batch: 0,
      batchLimit: "does not fit",
      bound: "does not fit",
      meetsTarget: false,
      step,
      prefillGpusPerDecodeGpu: 0,
    };
  }
  const target = workload.targetTokensPerSecondPerUser;
  const emitted = emittedPerStep(workload);
  let batch = most;
  let meetsTarget = true;
  if (target !== undefined && target > 0) {
    const budget = emitted / target;
    if (stepTime(deployment, layout, 1, workload, efficiency).totalS > budget) {
      batch = 1;
      meetsTarget = false;
    } else if (stepTime(deployment, layout, most, workload, efficiency).totalS > budget) {
      // The step time grows with the batch: bisect for the largest batch within the budget.
      let low = 1;
      let high = most;
      while (high - low > 1) {
        const middle = Math.floor((low + high) / 2);
        if (stepTime(deployment, layout, middle, workload, efficiency).totalS <= budget) low = middle;
        else high = middle;
      }
      batch = low;
    }
  }
  const step = stepTime(deployment, layout, batch, workload, efficiency);
  const decodeTokensPerGpu = (batch * emitted) / step.totalS / layout.gpus;
  // Disaggregated: every decode GPU's output needs its prompts prefilled on GPUs of their own
  // (compute-bound, at the prefill rate above), which the deployment's tokens/s per GPU counts.
  const prefillGpusPerDecodeGpu =
    workload.serving === "disaggregated"
      ? (decodeTokensPerGpu * uncachedPrompt) / workload.outputTokens / prefillPerGpu
      : 0;
  const batchLimit =
    batch < most || !meetsTarget
      ? "interactivity"
      : most === SCHEDULER_MAX_BATCH_PER_GPU * layout.gpus
        ? "scheduler"
        : "memory";
  return {
    ...common,
    outputTokensPerSecondPerGpu: decodeTokensPerGpu / (1 + prefillGpusPerDecodeGpu),
    prefillGpusPerDecodeGpu,
    tokensPerSecondPerUser: emitted / step.totalS,
    batch,
    batchLimit,
    bound: batchLimit === "interactivity" ? "interactivity" : boundOf(step),
    meetsTarget,
    step,
  };
}

/**
 * Layouts worth trying: powers of two up to the scale-up domain and the domain itself, then
 * whole domains (up to four) for a model too large for one; MoE models also try expert
 * parallelism. `gpus` fixes the size where a deployment is given.
 */
export function candidateLayouts(deployment: Deployment, gpus?: number): Layout[] {
  const domain = deployment.gpu.scale_up_domain;
  const sizes = new Set<number>();
  if (gpus !== undefined) sizes.add(gpus);
  else {
    for (let n = 1; n <= domain; n *= 2) sizes.add(n);
    sizes.add(domain);
    for (let domains = 2; domains <= 4; domains++) sizes.add(domain * domains);
  }
  const modes: Layout["mode"][] = deployment.model.experts > 0 ? ["tp", "ep"] : ["tp"];
  const layouts: Layout[] = [];
  for (const n of [...sizes].sort((a, b) => a - b))
    for (const mode of modes) if (n > 1 || mode === "tp") layouts.push({ gpus: n, mode });
  return layouts;
}

/**
 * The layout that serves most tokens per GPU while keeping the per-user target; when none can,
 * the one that comes closest (fastest per user). Larger layouts are tried only while a smaller
 * one does not fit, as an operator would not spread a model over more domains than it needs.
 */
export function predict(
  deployment: Deployment,
  workload: Workload,
  efficiency: Efficiency,
  gpus?: number,
): Prediction {
  const domain = deployment.gpu.scale_up_domain;
  let best: Prediction | undefined;
  for (const layout of candidateLayouts(deployment, gpus)) {
    if (gpus === undefined && layout.gpus > domain && best && best.batch > 0) break;
    const prediction = predictLayout(deployment, layout, workload, efficiency);
    if (!best || better(prediction, best)) best = prediction;
  }
  return best as Prediction;
}

function better(candidate: Prediction, incumbent: Prediction): boolean {
  if (candidate.batch === 0) return false;
  if (incumbent.batch === 0) return true;
  if (candidate.meetsTarget !== incumbent.meetsTarget) return candidate.meetsTarget;
  if (!candidate.meetsTarget) return candidate.tokensPerSecondPerUser > incumbent.tokensPerSecondPerUser;
  return candidate.outputTokensPerSecondPerGpu > incumbent.outputTokensPerSecondPerGpu;
}
