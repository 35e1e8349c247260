/**
 * Draws docs/images/frontier.svg: the step model's throughput–interactivity frontier (output
 * tokens/s per GPU against tokens/s per user, 922 in / 922 out) for a dense model (Llama 3.3 70B
 * FP8) and a mixture-of-experts one (gpt-oss-120b FP4 where the GPU runs FP4, DeepSeek-R1 FP8)
 * on H100, H200, B200 and GB200, with the published per-user points of data/throughput-
 * measurements.yaml beside them. Run: node --import tsx scripts/frontier-chart.ts
 */
import { writeFileSync } from "node:fs";
import { efficiencyFor, fitCalibration, loadMeasurements } from "../src/capacity/calibration.ts";
import { type Gpu, loadGpuCatalog, type Precision } from "../src/capacity/gpu-catalog.ts";
import { loadModelCatalog, shapeOf } from "../src/capacity/model-catalog.ts";
import { predict, type Speculative } from "../src/capacity/step-model.ts";

const gpus = loadGpuCatalog();
const models = loadModelCatalog();
const measurements = loadMeasurements(gpus);
process.stderr.write("fitting the calibration…\n");
const calibration = fitCalibration(measurements);

const panels: Array<{ model: string; precision: Precision; title: string; speculative?: Speculative }> = [
  { model: "llama-3.3-70b", precision: "fp8", title: "Llama 3.3 70B FP8 (dense)" },
  {
    model: "deepseek-r1",
    precision: "fp8",
    title: "DeepSeek-R1 FP8 (MoE), 1-token MTP at 85% (assumed)",
    speculative: { draftTokens: 1, acceptance: 0.85 },
  },
];
const kinds = [
  { id: "h100-sxm", colour: "#8250df" },
  { id: "h200-sxm", colour: "#1f6feb" },
  { id: "b200", colour: "#1a7f37" },
  { id: "gb200", colour: "#bf3989" },
];
const speeds = Array.from({ length: 40 }, (_, i) => 10 + i * 5);
const W = 460;
const H = 300;
const pad = { left: 60, right: 12, top: 28, bottom: 40 };

function panel(index: number): string {
  const { model, precision, title, speculative } = panels[index] as (typeof panels)[number];
  const architecture = models.get(model);
  if (!architecture) throw new Error(`no model ${model}`);
  const shape = shapeOf(architecture);
  const series = kinds.map(({ id, colour }) => {
    const gpu = gpus.get(id) as Gpu;
    const efficiency = efficiencyFor(calibration, gpu, precision);
    const points = speeds.map((speed) => {
      const p = predict(
        { gpu, model: shape, precision },
        { inputTokens: 922, outputTokens: 922, targetTokensPerSecondPerUser: speed, speculative },
        efficiency,
      );
      return { x: speed, y: p.meetsTarget ? p.outputTokensPerSecondPerGpu : 0 };
    });
    return { id, colour, points };
  });
  const published = measurements.filter(
    (m) =>
      m.family === model && m.deployment.precision === precision && m.workload.targetTokensPerSecondPerUser,
  );
  const yMax =
    Math.max(
      ...series.flatMap((s) => s.points.map((p) => p.y)),
      ...published.map((m) => m.tokensPerSecondPerGpu),
    ) * 1.1;
  const x = (v: number) => pad.left + ((v - 10) / (205 - 10)) * (W - pad.left - pad.right);
  const y = (v: number) => H - pad.bottom - (v / yMax) * (H - pad.top - pad.bottom);
  const ox = index * W;
  const parts: string[] = [`<g transform="translate(${ox},0)">`];
  parts.push(`<text x="${pad.left}" y="18" font-size="13" font-weight="600">${title}</text>`);
  parts.push(
    `<line x1="${pad.left}" y1="${H - pad.bottom}" x2="${W - pad.right}" y2="${H - pad.bottom}" stroke="#888"/>`,
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${H - pad.bottom}" stroke="#888"/>`,
  );
  for (let t = 0; t <= 4; t++) {
    const v = (yMax / 1.1) * (t / 4);
    parts.push(
      `<text x="${pad.left - 6}" y="${y(v) + 4}" font-size="10" text-anchor="end">${Math.round(v).toLocaleString("en-US")}</text>`,
    );
  }
  for (const v of [25, 50, 100, 150, 200])
    parts.push(
      `<text x="${x(v)}" y="${H - pad.bottom + 14}" font-size="10" text-anchor="middle">${v}</text>`,
    );
  parts.push(
    `<text x="${(pad.left + W - pad.right) / 2}" y="${H - 6}" font-size="11" text-anchor="middle">tokens/s per user</text>`,
    `<text x="14" y="${(pad.top + H - pad.bottom) / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 14 ${(pad.top + H - pad.bottom) / 2})">output tokens/s per GPU</text>`,
  );
  for (const s of series) {
    const path = s.points
      .filter((p) => p.y > 0)
      .map((p, i) => `${i === 0 ? "M" : "L"}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`)
      .join(" ");
    if (path) parts.push(`<path d="${path}" fill="none" stroke="${s.colour}" stroke-width="2"/>`);
  }
  for (const m of published) {
    const colour = kinds.find((k) => k.id === m.deployment.gpu.id)?.colour ?? "#000";
    const cx = x(m.workload.targetTokensPerSecondPerUser as number);
    const cy = y(m.tokensPerSecondPerGpu);
    parts.push(
      m.fit
        ? `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="4" fill="${colour}"/>`
        : `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="4" fill="none" stroke="${colour}" stroke-width="1.5"/>`,
    );
  }
  parts.push("</g>");
  return parts.join("\n");
}

const legend = kinds
  .map(
    ({ id, colour }, i) =>
      `<rect x="${60 + i * 110}" y="${H + 6}" width="12" height="3" fill="${colour}"/><text x="${76 + i * 110}" y="${H + 11}" font-size="11">${id}</text>`,
  )
  .join("\n");
const note = `<text x="520" y="${H + 11}" font-size="11">lines: step model, 922 in / 922 out; dots: published (hollow: not fitted)</text>`;
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 22}" viewBox="0 0 ${2 * W} ${H + 22}" font-family="sans-serif">
<title>Throughput–interactivity frontier: the step model beside published points</title>
<rect width="100%" height="100%" fill="#fff"/>
${panels.map((_, i) => panel(i)).join("\n")}
${legend}
${note}
</svg>
`;
writeFileSync(new URL("../docs/images/frontier.svg", import.meta.url), svg);
process.stderr.write("wrote docs/images/frontier.svg\n");
