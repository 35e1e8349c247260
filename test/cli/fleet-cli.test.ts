import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runCli } from "../helpers/cli.ts";

describe("headroom fleet", () => {
  test("timeline prints capacity at each date a pool joins or finishes its ramp: before and after the deal, and the orbital site", async () => {
    const result = await runCli(["fleet", "timeline", "examples/colossus-fleet.yaml"]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split("\n");
    assert.match(lines[0] ?? "", /^from\s+GPUs online\s+opus tok\/s\s+sonnet tok\/s\s+haiku tok\/s$/);
    assert.deepEqual(
      lines.slice(1).map((line) => line.split(/\s{2,}/).slice(0, 2)),
      // 2% of installed GPUs are down at any time (the example's down_share).
      [
        ["2026-02-28", "78,400"],
        ["2026-03-01", "98,000"],
        // Colossus 1 ramps over 25 days from the deal's date: none of it on the first day, all
        // of it (less 2% down) when the ramp ends.
        ["2026-05-06", "98,000"],
        ["2026-05-31", "323,400"],
        // The orbital site in sunlight, bound by its radiator: 50,000 m² × (2 × 413.4 W/m² less
        // the nadir side's Earth infrared and albedo, 0.8236 × 295 W/m²) ÷ 1,800 W = 16,217 GB300
        // (fewer than the 19,600 of its 20,000 that are up).
        ["2028-06-01", "339,617"],
      ],
    );
  });

  test("show lists the pools at an instant, with the deal that brought them", async () => {
    const result = await runCli([
      "fleet",
      "show",
      "examples/colossus-fleet.yaml",
      "--at",
      "2026-06-01T00:00:00Z",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /colossus-1\s+h200-sxm\s+50000\s+49000\s+Colossus 1/);
    assert.match(result.stdout, /^opus\s+\d+$/m);
    const bad = await runCli(["fleet", "show", "examples/colossus-fleet.yaml", "--at", "soon"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not an ISO date-time: soon/);
  });

  test("throughput: one configuration's prediction as JSON, the fields others rely on; bad input refused by name", async () => {
    const args = ["fleet", "throughput", "--gpu", "b200", "--model", "llama-3.3-70b", "--precision", "fp8"];
    const run = async (...extra: string[]) => {
      const result = await runCli([...args, "--isl", "1000", "--osl", "1000", ...extra, "--json"]);
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout) as Record<string, unknown> & {
        output_tokens_per_s_per_gpu: number;
        tokens_per_s_per_user: number;
        batch: number;
        bound: string;
        layout: { gpus_per_replica: number; mode: string };
        prefill_gpus_per_decode_gpu: number;
      };
    };
    const interactive = await run("--tokens-per-user", "76");
    assert.ok(interactive.output_tokens_per_s_per_gpu > 0);
    assert.ok(interactive.tokens_per_s_per_user >= 76, "keeps the per-user target");
    assert.ok(interactive.batch >= 1);
    assert.equal(interactive.bound, "interactivity");
    assert.ok(interactive.layout.gpus_per_replica >= 1 && ["tp", "ep"].includes(interactive.layout.mode));
    const fastest = await run("--tokens-per-user", "139");
    assert.ok(
      fastest.output_tokens_per_s_per_gpu < interactive.output_tokens_per_s_per_gpu,
      "a higher per-user target serves less per GPU",
    );
    const decode = await run("--decode-only");
    const whole = await run("--disaggregated");
    assert.equal(decode.prefill_gpus_per_decode_gpu, 0);
    assert.ok(whole.prefill_gpus_per_decode_gpu > 0);
    assert.ok(whole.output_tokens_per_s_per_gpu < decode.output_tokens_per_s_per_gpu, "prefill GPUs counted");
    const both = await runCli([...args, "--decode-only", "--disaggregated"]);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /--decode-only and --disaggregated/);
    const unknown = await runCli([
      "fleet",
      "throughput",
      "--gpu",
      "h900",
      "--model",
      "llama-3.3-70b",
      "--precision",
      "fp8",
    ]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no GPU "h900"; known: .*h100-sxm/);
  });
});
