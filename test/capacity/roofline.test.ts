import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Gpu, loadGpuCatalog } from "../../src/capacity/gpu-catalog.ts";
import { type ModelProfile, roofline } from "../../src/capacity/roofline.ts";

const catalog = loadGpuCatalog();
const gpu = (id: string) => catalog.get(id) as Gpu;

/** Llama 2 70B: 80 layers, 8 KV heads of 128 dims; fp8 KV cache (1 byte), K and V. */
const llama70b = (precision: "fp8" | "fp4"): ModelProfile => ({
  id: "llama-2-70b",
  totalParams: 70e9,
  activeParams: 70e9,
  precision,
  kvBytesPerToken: 80 * 8 * 128 * 2,
  gpusPerReplica: 2,
});

/** MLPerf's Llama 2 70B task (OpenOrca): about 300 prompt and 280 generated tokens per sample. */
const mlperf = { inputTokens: 300, outputTokens: 280 };

/**
 * Published offline results for 8 GPUs (../shared/data/capacity.md §2). A roofline is an upper
 * bound: measured / estimated is documented in docs/capacity.md and must stay in 0.5–1.0.
 */
const measurements = [
  {
    gpu: "h100-sxm",
    precision: "fp8" as const,
    tokensPerSecond: 84 * 280,
    source: "MLPerf v4.1, 8× H100, ≈84 samples/s",
  },
  {
    gpu: "h200-sxm",
    precision: "fp8" as const,
    tokensPerSecond: 118 * 280,
    source: "MLPerf v4.1, 8× H200, ≈118 samples/s",
  },
  {
    gpu: "b200",
    precision: "fp4" as const,
    tokensPerSecond: 103_000,
    source: "MLPerf v5.1, 8× B200, ≈103k tokens/s",
  },
];

describe("roofline throughput", () => {
  for (const measurement of measurements) {
    test(`${measurement.source}: the estimate bounds the measurement within the documented band`, () => {
      const estimate = roofline(gpu(measurement.gpu), llama70b(measurement.precision), mlperf);
      const ratio = measurement.tokensPerSecond / (8 * estimate.outputTokensPerSecondPerGpu);
      assert.ok(ratio >= 0.5 && ratio <= 1.0, `measured / estimated = ${ratio.toFixed(2)}`);
    });
  }

  test("the worked example of capacity.md: 70B fp8 on two H100 at batch 256, 2k context ≈ 4,200 tokens/s per GPU", () => {
    const estimate = roofline(
      gpu("h100-sxm"),
      llama70b("fp8"),
      { inputTokens: 1_024, outputTokens: 2_048 },
      {
        bandwidth: 0.75,
        compute: 1,
        memory: 1,
        maxBatch: 256,
        tpOverhead: 0,
      },
    );
    assert.equal(estimate.batch, 256);
    assert.equal(estimate.bound, "bandwidth");
    assert.ok(
      Math.abs(estimate.outputTokensPerSecondPerGpu - 4_200) / 4_200 < 0.05,
      `${estimate.outputTokensPerSecondPerGpu}`,
    );
  });

  test("more bandwidth and memory never lower throughput; a model that does not fit gets zero", () => {
    const h100 = roofline(gpu("h100-sxm"), llama70b("fp8"), mlperf);
    const h200 = roofline(gpu("h200-sxm"), llama70b("fp8"), mlperf);
    assert.ok(h200.outputTokensPerSecondPerGpu >= h100.outputTokensPerSecondPerGpu);
    const huge: ModelProfile = {
      ...llama70b("fp8"),
      totalParams: 400e9,
      activeParams: 400e9,
      gpusPerReplica: 2,
    };
    assert.equal(roofline(gpu("h100-sxm"), huge, mlperf).bound, "does not fit");
  });
});
