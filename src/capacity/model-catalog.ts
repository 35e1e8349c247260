/**
 * Model architectures as the step model needs them: how many bytes of weights a decode step
 * reads (the always-read part plus the experts the batch touches), how many bytes of KV cache
 * a token of context keeps, and the FLOPs a token costs. Shapes come from data/models.yaml
 * (public model configurations) or from a scenario that declares its own.
 */
import { z } from "zod";
import { ConfigError, readYamlFile } from "../config/yaml-file.ts";

const gqaSchema = z
  .object({
    kind: z.literal("gqa"),
    heads: z.number().int().positive(),
    kv_heads: z.number().int().positive(),
    head_dim: z.number().int().positive(),
    /** Sliding or chunked attention: these layers keep at most `window` tokens of context. */
    window: z.number().int().positive().optional(),
    windowed_layers: z.number().int().min(0).default(0),
  })
  .strict();

const mlaSchema = z
  .object({
    kind: z.literal("mla"),
    heads: z.number().int().positive(),
    kv_lora_rank: z.number().int().positive(),
    rope_dim: z.number().int().positive(),
    /** Query/key width per head (no-rope + rope parts), for attention FLOPs. */
    head_dim: z.number().int().positive(),
  })
  .strict();

export const architectureSchema = z
  .object({
    id: z.string().min(1),
    layers: z.number().int().positive(),
    hidden: z.number().int().positive(),
    attention: z.discriminatedUnion("kind", [gqaSchema, mlaSchema]),
    moe: z
      .object({
        experts: z.number().int().positive(),
        experts_per_token: z.number().int().positive(),
        shared_experts: z.number().int().min(0).default(0),
        moe_layers: z.number().int().positive(),
      })
      .strict()
      .refine((moe) => moe.experts_per_token < moe.experts, "experts_per_token must be below experts")
      .optional(),
    total_params_b: z.number().positive(),
    active_params_b: z.number().positive(),
    /**
     * Vocabulary size: the input embedding (vocab × hidden) is only looked up, one row per
     * token, so a step never streams it; the output head (the same size) is read every step.
     */
    vocab: z.number().int().positive().optional(),
    /** The output head shares the input embedding's table (no separate embedding in memory). */
    tied_embeddings: z.boolean().default(false),
    /** Whether the card's active count includes the input embedding (gpt-oss's does not). */
    active_includes_embedding: z.boolean().default(true),
    /**
     * Which weights a quantized checkpoint stores at its precision: every linear layer of the
     * transformer blocks (ModelOpt's FP8/FP4 checkpoints, DeepSeek's FP8), or only the routed
     * experts (gpt-oss: attention, router and dense parts stay BF16). The output head and the
     * embedding stay BF16 in both.
     */
    quantized: z.enum(["all-linear", "experts"]).default("all-linear"),
    /** FP4 block format: NVFP4 keeps an FP8 scale per 16 values, MXFP4 an 8-bit one per 32. */
    fp4_format: z.enum(["nvfp4", "mxfp4"]).default("nvfp4"),
    source: z.string().min(1).optional(),
  })
  .strict()
  .refine((a) => a.active_params_b <= a.total_params_b, "active_params_b above total_params_b")
  .refine((a) => !a.moe || a.moe.moe_layers <= a.layers, "moe_layers above layers")
  .refine((a) => a.moe || a.active_params_b === a.total_params_b, "a dense model has active = total");

export type Architecture = z.infer<typeof architectureSchema>;

/** Derived sizes the step model uses (parameters, not bytes: precision is the deployment's). */
export interface ModelShape {
  id: string;
  layers: number;
  hidden: number;
  totalParams: number;
  activeParams: number;
  /**
   * Parameters every token reads: attention, dense and shared-expert FFNs, norms, output head
   * (not the input embedding, which is only looked up).
   */
  alwaysParams: number;
  /** Of those, the ones a quantized checkpoint keeps in BF16: the output head, and for
   * expert-only checkpoints the whole always-read part. */
  bf16AlwaysParams: number;
  /** The input embedding table: held in memory (BF16), never streamed by a step. */
  embeddingParams: number;
  /** Bytes per weight of the checkpoint's FP4 format, scales included. */
  fp4BytesPerWeight: number;
  /** Routed experts: how many, how many a token uses, parameters of one expert in one layer. */
  experts: number;
  expertsPerToken: number;
  moeLayers: number;
  paramsPerExpertLayer: number;
  /** KV-cache values (not bytes) one token keeps in one layer. */
  kvValuesPerLayer: number;
  /** Layers attending to the whole context, and layers attending to at most `window` tokens. */
  fullLayers: number;
  windowedLayers: number;
  window: number;
  /** KV heads a tensor-parallel group can split the cache over (MLA's latent cannot be split). */
  kvSplit: number;
  /** Width of attention (heads × query/key dim) for attention FLOPs. */
  attentionWidth: number;
}

/**
 * From a model card's totals: with E routed experts, k per token and an input embedding of
 * e = vocab × hidden (0 when tied or unknown), total = always + E·x + e and active = always +
 * k·x (+ e where the card counts it), so one expert-layer set is x = (total − active) / (E − k)
 * (less e / (E − k) where the card's active count leaves the embedding out).
 */
export function shapeOf(architecture: Architecture): ModelShape {
  const { attention, moe } = architecture;
  const total = architecture.total_params_b * 1e9;
  const active = architecture.active_params_b * 1e9;
  const experts = moe?.experts ?? 0;
  const k = moe?.experts_per_token ?? 0;
  const embedding =
    architecture.vocab !== undefined && !architecture.tied_embeddings
      ? architecture.vocab * architecture.hidden
      : 0;
  const head = architecture.vocab !== undefined ? architecture.vocab * architecture.hidden : 0;
  const activeEmbedding = architecture.active_includes_embedding ? embedding : 0;
  const routedPerExpert = moe ? (total - active - (embedding - activeEmbedding)) / (experts - k) : 0;
  const always = active - k * routedPerExpert - activeEmbedding;
  const moeLayers = moe?.moe_layers ?? 0;
  const layers = architecture.layers;
  let kvPerLayer: number;
  let windowedLayers = 0;
  let window = Number.POSITIVE_INFINITY;
  if (attention.kind === "mla") {
    kvPerLayer = attention.kv_lora_rank + attention.rope_dim;
  } else {
    kvPerLayer = 2 * attention.kv_heads * attention.head_dim;
    if (attention.window !== undefined) {
      windowedLayers = Math.min(layers, attention.windowed_layers);
      window = attention.window;
    }
  }
  return {
    id: architecture.id,
    layers,
    hidden: architecture.hidden,
    totalParams: total,
    activeParams: active,
    alwaysParams: always,
    bf16AlwaysParams: architecture.quantized === "experts" ? always : Math.min(head, always),
    embeddingParams: embedding,
    fp4BytesPerWeight: architecture.fp4_format === "mxfp4" ? 0.5 + 1 / 32 : 0.5 + 1 / 16,
    experts,
    expertsPerToken: k,
    moeLayers,
    paramsPerExpertLayer: moeLayers > 0 ? routedPerExpert / moeLayers : 0,
    kvValuesPerLayer: kvPerLayer,
    fullLayers: layers - windowedLayers,
    windowedLayers,
    window,
    kvSplit: attention.kind === "mla" ? 1 : attention.kv_heads,
    attentionWidth: attention.heads * attention.head_dim,
  };
}

/** Context tokens summed over layers for a sequence of `context` tokens (windowed layers see fewer). */
export function layerTokens(model: ModelShape, context: number): number {
  return model.fullLayers * context + model.windowedLayers * Math.min(context, model.window);
}

/**
 * A model known only by its totals (the fleet file's older form): assumed a mixture of
 * 128 experts with 8 per token when active < total, with `layers` and `hidden` of a large
 * model. The assumption is printed wherever such a model is used (docs/capacity.md).
 */
export function genericArchitecture(input: {
  id: string;
  totalParamsB: number;
  activeParamsB: number;
  kvBytesPerToken: number;
  kvBytesPerValue: number;
}): Architecture {
  const layers = 80;
  const moe = input.activeParamsB < input.totalParamsB;
  // K and V per layer, head_dim 128: kv_heads that give the stated bytes per token.
  const kvHeads = Math.max(1, Math.round(input.kvBytesPerToken / input.kvBytesPerValue / (2 * layers * 128)));
  return {
    id: input.id,
    layers,
    hidden: 8192,
    attention: { kind: "gqa", heads: 64, kv_heads: kvHeads, head_dim: 128, windowed_layers: 0 },
    moe: moe ? { experts: 128, experts_per_token: 8, shared_experts: 0, moe_layers: layers } : undefined,
    total_params_b: input.totalParamsB,
    active_params_b: moe ? input.activeParamsB : input.totalParamsB,
    tied_embeddings: false,
    active_includes_embedding: true,
    quantized: "all-linear",
    fp4_format: "nvfp4",
    source: "generic: 80 layers, 128 experts, 8 per token (assumed)",
  };
}

export function loadModelCatalog(
  file = new URL("../../data/models.yaml", import.meta.url).pathname,
): Map<string, Architecture> {
  const models = readYamlFile(file, z.array(architectureSchema));
  const catalog = new Map<string, Architecture>();
  for (const model of models) {
    if (catalog.has(model.id)) throw new ConfigError(`${file}: model "${model.id}" listed twice`);
    catalog.set(model.id, model);
  }
  return catalog;
}
