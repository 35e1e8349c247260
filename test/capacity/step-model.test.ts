import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type Gpu, loadGpuCatalog, type Precision } from "../../src/capacity/gpu-catalog.ts";
import { loadModelCatalog, shapeOf } from "../../src/capacity/model-catalog.ts";
import {
  busiestShardExperts,
  DEFAULT_EFFICIENCY,
  type Deployment,
  emittedPerStep,
  expertsReadPerStep,
  expertsTouched,
  PREFILL_CHUNK_TOKENS,
  predict,
  predictLayout,
  stepTime,
  weightBytesPerGpu,
} from "../../src/capacity/step-model.ts";

const gpus = loadGpuCatalog();
const models = loadModelCatalog();
const gpu = (id: string) => gpus.get(id) as Gpu;
const shape = (id: string) => {
  const architecture = models.get(id);
  assert.ok(architecture, id);
  return shapeOf(architecture);
};
const deployment = (gpuId: string, modelId: string, precision: Precision): Deployment => ({
  gpu: gpu(gpuId),
  model: shape(modelId),
  precision,
});
const moeModels = ["deepseek-r1", "gpt-oss-120b", "qwen3-235b-a22b", "llama-4-maverick", "qwen3-30b-a3b"];
const allModels = [...models.keys()];
const kinds = ["h100-sxm", "h200-sxm", "b200", "gb200"];

const workloadArbitrary = fc.record({
  inputTokens: fc.integer({ min: 64, max: 32_000 }),
  outputTokens: fc.integer({ min: 16, max: 4_000 }),
  cacheHitShare: fc.double({ min: 0, max: 1, noNaN: true }),
});

describe("model shapes from the catalog", () => {
  test("parameters split into always-read and routed parts that add up to the model card's totals", () => {
    for (const id of allModels) {
      const model = shape(id);
      const routed = model.moeLayers * model.experts * model.paramsPerExpertLayer;
      const total = model.alwaysParams + routed + model.embeddingParams;
      assert.ok(Math.abs(total - model.totalParams) / model.totalParams < 1e-9, id);
      const countsEmbedding = (models.get(id)?.active_includes_embedding ?? true) ? model.embeddingParams : 0;
      const active =
        model.alwaysParams +
        model.moeLayers * model.expertsPerToken * model.paramsPerExpertLayer +
        countsEmbedding;
      assert.ok(Math.abs(active - model.activeParams) / model.activeParams < 1e-9, id);
      assert.ok(model.alwaysParams > 0, `${id}: always-read part is positive`);
      assert.ok(model.embeddingParams > 0, `${id}: the catalog gives its vocabulary`);
      assert.ok(model.bf16AlwaysParams > 0 && model.bf16AlwaysParams <= model.alwaysParams, id);
    }
    // gpt-oss's card: 5.13B active = 4 of 128 experts + 0.96B attention + 0.58B unembedding.
    const oss = shape("gpt-oss-120b");
    assert.ok(
      Math.abs(oss.alwaysParams / 1e9 - 1.54) < 0.05,
      `gpt-oss always-read ${oss.alwaysParams / 1e9}B`,
    );
  });

  test("a step streams the output head in BF16 and never the input embedding; memory holds both", () => {
    const d = deployment("h100-sxm", "llama-3.1-8b", "fp8");
    const layout = { gpus: 1, mode: "tp" } as const;
    const step = stepTime(
      d,
      layout,
      1,
      { inputTokens: 1, outputTokens: 1, serving: "decode-only" },
      DEFAULT_EFFICIENCY,
    );
    const bandwidth = d.gpu.hbm_bandwidth_tb_s * 1e12 * DEFAULT_EFFICIENCY.bandwidth;
    const head = 128_256 * 4096;
    const expected = (d.model.alwaysParams - head) * 1 + head * 2;
    assert.ok(Math.abs(step.weightsS * bandwidth - expected) / expected < 1e-9, "weights read per step");
    const resident = weightBytesPerGpu(d, layout);
    assert.ok(
      Math.abs(resident - (expected + head * 2)) / resident < 1e-9,
      "the embedding table is held, in BF16",
    );
  });

  test("FP4 weights carry their block scales; gpt-oss's MXFP4 checkpoint keeps attention in BF16", () => {
    const layout = { gpus: 1, mode: "tp" } as const;
    const llama = deployment("b200", "llama-3.3-70b", "fp4");
    const head = 128_256 * 8192;
    const nvfp4 = (llama.model.alwaysParams - head) * (0.5 + 1 / 16) + head * 2 + head * 2;
    assert.ok(Math.abs(weightBytesPerGpu(llama, layout) - nvfp4) / nvfp4 < 1e-9, "NVFP4: 4.5 bits a weight");
    const oss = deployment("b200", "gpt-oss-120b", "fp4");
    const routed = oss.model.experts * oss.model.moeLayers * oss.model.paramsPerExpertLayer;
    const mxfp4 = routed * (0.5 + 1 / 32) + oss.model.alwaysParams * 2 + oss.model.embeddingParams * 2;
    assert.ok(
      Math.abs(weightBytesPerGpu(oss, layout) - mxfp4) / mxfp4 < 1e-9,
      "MXFP4 experts, the rest BF16",
    );
    // The published checkpoint is 60.8 GiB.
    assert.ok(Math.abs(mxfp4 / 2 ** 30 - 60.8) < 3, `gpt-oss checkpoint ${(mxfp4 / 2 ** 30).toFixed(1)} GiB`);
  });

  test("MLA keeps a latent per token: DeepSeek-R1's KV per token is a fraction of a GQA model's of its size", () => {
    const deepseek = shape("deepseek-r1");
    assert.equal(deepseek.kvValuesPerLayer, 512 + 64);
    assert.equal(deepseek.kvSplit, 1, "the latent cannot be split over tensor-parallel GPUs");
    assert.equal(shape("llama-3.1-405b").kvValuesPerLayer, 2 * 8 * 128);
  });
});

describe("the step model's physics (properties)", () => {
  test("touching more experts never speeds a step: step time grows with the batch, and with experts per token", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...moeModels),
        fc.constantFrom(...kinds),
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 1, max: 500 }),
        workloadArbitrary,
        (modelId, kind, batch, extra, workload) => {
          const d = deployment(kind, modelId, "fp8");
          const layout = { gpus: 8, mode: "ep" as const };
          const small = stepTime(d, layout, batch, workload, DEFAULT_EFFICIENCY).totalS;
          const large = stepTime(d, layout, batch + extra, workload, DEFAULT_EFFICIENCY).totalS;
          assert.ok(large >= small, `${modelId}: batch ${batch} → ${batch + extra}`);
          const denser = {
            ...d.model,
            expertsPerToken: Math.min(d.model.experts - 1, d.model.expertsPerToken * 2),
          };
          assert.ok(expertsTouched(denser, batch) >= expertsTouched(d.model, batch));
          assert.ok(expertsTouched(d.model, batch) <= d.model.experts);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a batch of one reads about the active weights; a large batch reads nearly all of them", () => {
    const d = deployment("h200-sxm", "deepseek-r1", "fp8");
    const workload = { inputTokens: 1, outputTokens: 1_000, serving: "decode-only" as const };
    const layout = { gpus: 8, mode: "tp" as const };
    const read = (batch: number) =>
      stepTime(d, layout, batch, workload, DEFAULT_EFFICIENCY).weightsS *
      gpu("h200-sxm").hbm_bandwidth_tb_s *
      1e12 *
      DEFAULT_EFFICIENCY.bandwidth *
      8;
    const active = d.model.activeParams;
    assert.ok(Math.abs(read(1) - active) / active < 0.02, `batch 1 reads ${(read(1) / 1e9).toFixed(1)} GB`);
    assert.ok(
      read(1_024) > 0.98 * d.model.totalParams,
      `batch 1,024 reads ${(read(1_024) / 1e9).toFixed(0)} GB`,
    );
  });

  test("a larger scale-up domain never slows an expert-parallel replica", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...moeModels),
        fc.constantFrom(16, 32, 64),
        fc.integer({ min: 1, max: 4_000 }),
        workloadArbitrary,
        (modelId, n, batch, workload) => {
          const board = { ...gpu("b200"), scale_up_domain: 8 };
          const rack = { ...gpu("b200"), scale_up_domain: 72 };
          const layout = { gpus: n, mode: "ep" as const };
          const onBoards = stepTime(
            { gpu: board, model: shape(modelId), precision: "fp4" },
            layout,
            batch,
            workload,
            DEFAULT_EFFICIENCY,
          );
          const onRack = stepTime(
            { gpu: rack, model: shape(modelId), precision: "fp4" },
            layout,
            batch,
            workload,
            DEFAULT_EFFICIENCY,
          );
          assert.ok(onRack.totalS <= onBoards.totalS);
          assert.ok(
            onRack.communicationS < onBoards.communicationS,
            "the domain's links are faster than the NICs",
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  test("a higher per-user target never raises throughput per GPU, and a met target is kept", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...allModels),
        fc.constantFrom(...kinds),
        fc.constantFrom<Precision>("fp8", "fp4"),
        fc.double({ min: 5, max: 300, noNaN: true }),
        fc.double({ min: 1.01, max: 4, noNaN: true }),
        workloadArbitrary,
        (modelId, kind, precision, target, factor, workload) => {
          const d = deployment(kind, modelId, precision);
          const slower = predict(
            d,
            { ...workload, targetTokensPerSecondPerUser: target },
            DEFAULT_EFFICIENCY,
          );
          const faster = predict(
            d,
            { ...workload, targetTokensPerSecondPerUser: target * factor },
            DEFAULT_EFFICIENCY,
          );
          if (faster.meetsTarget) {
            assert.ok(slower.meetsTarget);
            assert.ok(faster.outputTokensPerSecondPerGpu <= slower.outputTokensPerSecondPerGpu * (1 + 1e-9));
            assert.ok(faster.tokensPerSecondPerUser >= target * factor * (1 - 1e-9));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test("the target binds through the step time: between no target and a met target, the batch shrinks", () => {
    const d = deployment("b200", "llama-3.3-70b", "fp8");
    const workload = { inputTokens: 1_000, outputTokens: 1_000 };
    const layout = { gpus: 1, mode: "tp" as const };
    const free = predictLayout(d, layout, workload, DEFAULT_EFFICIENCY);
    const at = (target: number) =>
      predictLayout(d, layout, { ...workload, targetTokensPerSecondPerUser: target }, DEFAULT_EFFICIENCY);
    assert.equal(free.batchLimit, "memory");
    let previous = free.batch;
    for (const target of [20, 40, 60]) {
      const result = at(target);
      assert.ok(result.batch <= previous, `${target} tok/s/user: batch ${result.batch}`);
      assert.equal(result.bound, result.batch < free.batch ? "interactivity" : result.bound);
      previous = result.batch;
    }
    assert.equal(at(10_000).meetsTarget, false, "no batch reaches 10,000 tokens/s per user");
  });

  test("memory caps the batch: weights that do not fit leave no batch; a larger GPU holds more", () => {
    const layout = { gpus: 1, mode: "tp" as const };
    const workload = { inputTokens: 2_000, outputTokens: 500 };
    assert.equal(
      predictLayout(deployment("h100-sxm", "llama-3.1-405b", "fp8"), layout, workload, DEFAULT_EFFICIENCY)
        .batch,
      0,
    );
    assert.ok(weightBytesPerGpu(deployment("h100-sxm", "llama-3.1-405b", "fp8"), layout) > 80e9);
    const h100 = predictLayout(
      deployment("h100-sxm", "llama-3.3-70b", "fp8"),
      { gpus: 2, mode: "tp" },
      workload,
      DEFAULT_EFFICIENCY,
    );
    const h200 = predictLayout(
      deployment("h200-sxm", "llama-3.3-70b", "fp8"),
      { gpus: 2, mode: "tp" },
      workload,
      DEFAULT_EFFICIENCY,
    );
    assert.ok(h200.batch > h100.batch);
  });

  test("the chosen layout is the best of those tried, and says so", () => {
    const d = deployment("gb200", "deepseek-r1", "fp4");
    const workload = { inputTokens: 1_000, outputTokens: 1_000, targetTokensPerSecondPerUser: 50 };
    const chosen = predict(d, workload, DEFAULT_EFFICIENCY);
    for (const gpusPerReplica of [4, 8, 16, 32, 72]) {
      for (const mode of ["tp", "ep"] as const) {
        const other = predictLayout(d, { gpus: gpusPerReplica, mode }, workload, DEFAULT_EFFICIENCY);
        if (other.meetsTarget)
          assert.ok(other.outputTokensPerSecondPerGpu <= chosen.outputTokensPerSecondPerGpu + 1e-9);
      }
    }
    assert.ok(chosen.meetsTarget);
  });

  test("cached prompt tokens skip prefill: more cache hits never lower throughput", () => {
    const d = deployment("h200-sxm", "qwen3-235b-a22b", "fp8");
    let previous = 0;
    for (const cacheHitShare of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
      const result = predict(d, { inputTokens: 8_000, outputTokens: 600, cacheHitShare }, DEFAULT_EFFICIENCY);
      assert.ok(result.outputTokensPerSecondPerGpu >= previous);
      previous = result.outputTokensPerSecondPerGpu;
    }
  });

  test("a touched expert's weights stream at HBM speed: a bandwidth-bound MoE step costs its bytes, not bytes over moeEfficiency", () => {
    // Batch 1 of DeepSeek-R1 on 8 B200s: a few experts' worth of work, so the weight reads decide.
    const d = deployment("b200", "deepseek-r1", "fp8");
    const workload = { inputTokens: 1_000, outputTokens: 1_000, serving: "decode-only" as const };
    const layout = { gpus: 8, mode: "tp" as const };
    const step = (moeEfficiency: number) =>
      stepTime(d, layout, 1, workload, { ...DEFAULT_EFFICIENCY, moeEfficiency });
    const full = step(1);
    const slowMoe = step(0.25);
    // A slower token side may cost the little compute it has, never 4× the weight reads.
    assert.ok(slowMoe.totalS < full.totalS + full.computeS * 4, `${slowMoe.totalS} vs ${full.totalS}`);
    assert.ok(slowMoe.totalS < full.totalS * 1.2);
  });
});

describe("speculative decoding", () => {
  const base = { inputTokens: 922, outputTokens: 922 };
  test("a draft that is always kept gains tokens; better acceptance never lowers per-user speed or throughput", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...moeModels, "llama-3.3-70b"),
        fc.constantFrom(...kinds),
        fc.integer({ min: 1, max: 4 }),
        fc.double({ min: 0.05, max: 0.9, noNaN: true }),
        fc.double({ min: 0.01, max: 0.09, noNaN: true }),
        fc.double({ min: 20, max: 200, noNaN: true }),
        (modelId, kind, draftTokens, acceptance, more, target) => {
          const d = deployment(kind, modelId, "fp8");
          const at = (p: number) =>
            predict(
              d,
              { ...base, targetTokensPerSecondPerUser: target, speculative: { draftTokens, acceptance: p } },
              DEFAULT_EFFICIENCY,
            );
          const worse = at(acceptance);
          const better = at(acceptance + more);
          if (worse.batch === 0) return;
          if (worse.meetsTarget) {
            assert.ok(better.meetsTarget);
            assert.ok(better.outputTokensPerSecondPerGpu >= worse.outputTokensPerSecondPerGpu * (1 - 1e-9));
          } else assert.ok(better.tokensPerSecondPerUser >= worse.tokensPerSecondPerUser * (1 - 1e-9));
        },
      ),
      { numRuns: 150 },
    );
  });

  test("drafts cost work: at the same batch a drafting step is longer, and gains 1 + p + … + p^d tokens", () => {
    const d = deployment("h200-sxm", "deepseek-r1", "fp8");
    const layout = { gpus: 8, mode: "ep" as const };
    for (const batch of [1, 64, 512]) {
      const plain = stepTime(d, layout, batch, base, DEFAULT_EFFICIENCY);
      const drafting = stepTime(
        d,
        layout,
        batch,
        { ...base, speculative: { draftTokens: 2, acceptance: 0.8 } },
        DEFAULT_EFFICIENCY,
      );
      assert.ok(drafting.totalS > plain.totalS, `batch ${batch}`);
    }
    assert.ok(
      Math.abs(emittedPerStep({ ...base, speculative: { draftTokens: 2, acceptance: 0.8 } }) - 2.44) < 1e-12,
    );
    assert.equal(emittedPerStep(base), 1);
  });
});

describe("the busiest expert-parallel shard", () => {
  const model = shape("deepseek-r1");
  test("touches at least the mean and at most all of its experts, and more as tokens grow", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4_096 }), fc.constantFrom(2, 4, 8, 16, 32), (tokens, shards) => {
        const busiest = busiestShardExperts(model, tokens, shards);
        const mean = expertsTouched(model, tokens) / shards;
        assert.ok(busiest >= mean - 1e-9, `${busiest} < mean ${mean}`);
        assert.ok(busiest <= model.experts / shards + 1e-9);
        assert.ok(busiestShardExperts(model, tokens + 16, shards) >= busiest - 1e-9);
      }),
    );
  });
  test("one shard is the whole layer's touched experts", () => {
    for (const tokens of [1, 10, 100])
      assert.equal(busiestShardExperts(model, tokens, 1), expertsTouched(model, tokens));
  });
});

describe("prefill in chunks", () => {
  const model = shape("deepseek-r1");
  const spread = (decode: number, prefill: number, shards: number) =>
    shards === 1
      ? expertsTouched(model, decode + prefill)
      : busiestShardExperts(model, decode + prefill, shards);
  test("reads no more experts than the same prompt tokens spread over every step, and grows with both", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 512 }),
        fc.integer({ min: 0, max: 3 * PREFILL_CHUNK_TOKENS }),
        fc.constantFrom(1, 8, 32),
        (decode, prefill, shards) => {
          const chunked = expertsReadPerStep(model, decode, prefill, shards);
          assert.ok(chunked <= spread(decode, prefill, shards) + 1e-9);
          assert.ok(chunked >= spread(decode, 0, shards) - 1e-9);
          assert.ok(expertsReadPerStep(model, decode + 8, prefill, shards) >= chunked - 1e-9);
          assert.ok(expertsReadPerStep(model, decode, prefill + 64, shards) >= chunked - 1e-9);
        },
      ),
    );
  });
  test("a full chunk every step is the spread case; a few users on a long prompt read far fewer", () => {
    assert.equal(
      expertsReadPerStep(model, 4, PREFILL_CHUNK_TOKENS, 1),
      expertsTouched(model, 4 + PREFILL_CHUNK_TOKENS),
    );
    // Two users decoding 2 tokens a step on 7,373-token prompts over 922-token replies.
    const prefill = (2 * 1.85 * 7_373) / 922;
    assert.ok(expertsReadPerStep(model, 4, prefill, 1) < 0.5 * expertsTouched(model, 4 + prefill));
  });
});

describe("disaggregated serving", () => {
  const d = deployment("b200", "deepseek-r1", "fp8");
  const at = (isl: number, serving: "decode-only" | "disaggregated") =>
    predict(
      d,
      { inputTokens: isl, outputTokens: 1_000, targetTokensPerSecondPerUser: 60, serving },
      DEFAULT_EFFICIENCY,
    );

  test("counts the prefill GPUs: per GPU it is the decode servers' output over decode and prefill GPUs together", () => {
    for (const isl of [100, 1_000, 8_000, 32_000]) {
      const decode = at(isl, "decode-only");
      const whole = at(isl, "disaggregated");
      assert.equal(decode.prefillGpusPerDecodeGpu, 0);
      assert.ok(whole.prefillGpusPerDecodeGpu > 0, `isl ${isl}`);
      const perDecodeGpu = whole.outputTokensPerSecondPerGpu * (1 + whole.prefillGpusPerDecodeGpu);
      // The prefill GPUs keep pace with what the decode GPUs emit: prompt tokens in = prefill rate × GPUs.
      const promptTokensPerS = (perDecodeGpu * isl) / 1_000;
      assert.ok(
        Math.abs(promptTokensPerS - whole.prefillGpusPerDecodeGpu * whole.prefillTokensPerSecondPerGpu) <
          1e-6 * promptTokensPerS,
        `isl ${isl}: prefill keeps pace`,
      );
      assert.ok(whole.outputTokensPerSecondPerGpu <= decode.outputTokensPerSecondPerGpu + 1e-9);
    }
  });

  test("longer prompts need more prefill GPUs per decode GPU", () => {
    let previous = 0;
    for (const isl of [100, 1_000, 8_000, 32_000]) {
      const share = at(isl, "disaggregated").prefillGpusPerDecodeGpu;
      assert.ok(share > previous, `isl ${isl}: ${share}`);
      previous = share;
    }
  });
});
