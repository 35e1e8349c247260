/** Reports of a planning run: a text table, SVG charts (ECharts, server-side) and one HTML page. */
import * as echarts from "echarts";
import { SHAPE_RESOLUTION_MINUTES } from "./calibrate.ts";
import { effectiveActiveDays } from "./cohorts.ts";
import { percent } from "./format.ts";
import type { OverTimeResult, WeekPoint } from "./over-time.ts";
import {
  API_RAISE_THRESHOLD,
  capacityMargin,
  type Multiplier,
  type PlanResult,
  type SideResult,
} from "./plan.ts";
import type { Margins, SensitivityRow } from "./sensitivity.ts";
import type { SimulationResult } from "./simulate.ts";

const times = (x: number, digits = 2) => `×${x.toFixed(digits)}`;
const yesNo = (b: boolean) => (b ? "yes" : "no");

/** "≥ ×16.00 (search limit)" when only the search's ceiling was reached. */
const found = (m: Multiplier, digits = 2, floor = "×1") =>
  m.atSearchLimit
    ? `≥ ${times(m.value, digits)} (search limit)`
    : m.value === 0
      ? `below ${floor}`
      : times(m.value, digits);

export function textReport(result: PlanResult): string {
  const { before, after, conclusions, scenario } = result;
  const reference = scenario.reference_gpu.toUpperCase();
  /** One line of the table: the same measure of the week before and the week after. */
  const row = <T>(
    label: string,
    pick: (side: SideResult) => T,
    format: (value: T) => string,
  ): [string, string, string] => [label, format(pick(before)), format(pick(after))];
  // Margins near ×1 are what the verdicts turn on: one more digit.
  const margin = (m: Multiplier) => found(m, 3);
  const rows: Array<[string, string, string]> = [
    row(
      "GPUs online at the start",
      (side) => side.gpusOnline,
      (n) => n.toLocaleString("en-US"),
    ),
    row(
      "mean / peak utilisation (baseline)",
      (side) => side.baseline,
      (r) => `${percent(r.meanUtilisation)} / ${percent(r.peakUtilisation)}`,
    ),
    row(
      `${scenario.reference_gpu.toUpperCase()}-equivalents online`,
      (side) => side.gpuEquivalents,
      (n) => Math.round(n).toLocaleString("en-US"),
    ),
    row("overloaded minutes (baseline)", (side) => side.baseline.overloadShare, percent),
    row(
      `GPU split, mean (${scenario.allocation})`,
      (side) => side.baseline.meanShares,
      (shares) =>
        Object.entries(shares)
          .map(([family, share]) => `${family} ${Math.round(share * 100)}%`)
          .join(" "),
    ),
    row("requests shed, 529 (baseline)", (side) => side.baseline.shedShare, percentFine),
    row("worst hour's p95 TTFT (baseline)", (side) => side.baseline, worstHour),
    row("slowest speed per user (baseline)", (side) => side.baseline, speeds),
    row("service levels (baseline)", (side) => side.baseline, levelsMet),
    row("users hitting the 5-hour limit (baseline)", (side) => side.baseline.sessionLimitedShare, percent),
    row("users hitting the weekly limit (baseline)", (side) => side.baseline.weeklyLimitedShare, percent),
    row(
      "overloaded minutes, 5-hour ×2, peak lifted",
      (side) => side.doubledWithoutPeak.overloadShare,
      percent,
    ),
    row("requests shed, 5-hour ×2, peak lifted", (side) => side.doubledWithoutPeak.shedShare, percentFine),
    row("worst hour's p95 TTFT, ×2", (side) => side.doubledWithoutPeak, worstHour),
    row("service levels, ×2", (side) => side.doubledWithoutPeak, levelsMet),
    row("users hitting the 5-hour limit, ×2", (side) => side.doubledWithoutPeak.sessionLimitedShare, percent),
    row("users hitting the weekly limit, ×2", (side) => side.doubledWithoutPeak.weeklyLimitedShare, percent),
    row("largest sustainable 5-hour multiplier (peak lifted)", (side) => side.maxSessionMultiplier, found),
    ...Object.keys(before.maxSessionMultiplierByPlan).map((name) =>
      row(
        `  ${name} alone (other plans unchanged)`,
        (side) => side.maxSessionMultiplierByPlan[name] ?? { value: 0, atSearchLimit: false },
        found,
      ),
    ),
    row("largest sustainable weekly-cap multiplier, 5-hour ×2", (side) => side.maxWeeklyMultiplier, found),
    row("API share of output tokens (baseline)", (side) => side.baseline.apiShare, percent),
    row("API traffic cut by tier limits (baseline)", (side) => side.baseline.apiLimitedShare, percent),
    row("largest sustainable API-limit multiplier", (side) => side.maxApiMultiplier, found),
    row("break-even demand, baseline (× demand used)", (side) => side.breakEvenDemand.baseline, margin),
    row(
      "break-even demand, 5-hour ×2 + peak lifted",
      (side) => side.breakEvenDemand.doubledPeakLifted,
      margin,
    ),
    row(
      `  in ${reference}-equivalents`,
      (side) => capacityMargin(side, side.breakEvenDemand.doubledPeakLifted.value),
      hardware,
    ),
    [
      "5-hour limits can double, peak rule lifted",
      yesNo(conclusions.doubleSessionAndLiftPeak[0]),
      yesNo(conclusions.doubleSessionAndLiftPeak[1]),
    ],
    ["API limits can rise (≥ ×1.25)", yesNo(conclusions.raiseApi[0]), yesNo(conclusions.raiseApi[1])],
  ];
  const verdictLine = (side: SideResult, index: 0 | 1) => {
    const doubled = side.doubledWithoutPeak;
    const m = side.breakEvenDemand.doubledPeakLifted;
    const why = doubled.service.missed.length > 0 ? `; misses ${doubled.service.missed.join(", ")}` : "";
    return `  ${side.label} (${new Date(side.startMs).toISOString().slice(0, 10)}): 5-hour ×2, peak lifted: ${yesNo(conclusions.doubleSessionAndLiftPeak[index])} — demand margin ${margin(m)}, ${hardware(capacityMargin(side, m.value))} ${reference}-equivalents${why}; API ×${API_RAISE_THRESHOLD}: ${yesNo(conclusions.raiseApi[index])} (largest ${found(side.maxApiMultiplier)}).`;
  };
  const width = Math.max(...rows.map((row) => row[0].length));
  const header = `${"".padEnd(width)}  ${`before (${scenario.compare.before.slice(0, 10)})`.padEnd(22)}  after (${scenario.compare.after.slice(0, 10)})`;
  const lines = rows.map(([label, b, a]) => `${label.padEnd(width)}  ${b.padEnd(22)}  ${a}`);
  const demand =
    scenario.demand.calibrate === "baseline_at_target"
      ? `Demand: calibrated so the baseline sits exactly at the service levels before the deal (×${result.calibratedScale.toPrecision(4)} the scenario's figures), then × ${scenario.demand.scale}.`
      : `Demand: the scenario's figures × ${scenario.demand.scale}.`;
  const apiLine =
    scenario.demand.api_token_share === undefined
      ? `API demand: the scenario's tier and contract figures as stated (${percent(before.baseline.apiShare)} of output tokens at the baseline before the deal).`
      : `API demand: API keys and contract traffic ×${result.apiDemandFactor.toPrecision(3)} the scenario's, so API traffic is ${percent(scenario.demand.api_token_share)} of output tokens at the baseline before the deal (api_token_share, a named input).`;
  const provenance = scenario.demand.provenance;
  const sourced = (kind: "measured" | "stated") =>
    Object.entries(provenance ?? {})
      .filter(([, from]) => from === kind)
      .map(([field]) => field)
      .join(", ") || "none";
  const fromLedger = provenance
    ? [
        `Measured demand (${scenario.demand.from}, users × ${scenario.demand.users_scale}): measured ${sourced("measured")}; stated ${sourced("stated")}.`,
      ]
    : [];
  const perUser =
    scenario.demand.weekly_cap_share === undefined
      ? [...fromLedger, apiLine]
      : [
          ...fromLedger,
          apiLine,
          `Usage per user: ×${result.intensityScale.toPrecision(3)} the scenario's, so ${percent(scenario.demand.weekly_cap_share)} of subscribers hit a weekly cap at the baseline.`,
        ];
  const activeDays = effectiveActiveDays(result.dayConcentration).toFixed(1);
  const shape = result.dayConcentrationCalibrated
    ? `Demand shape: each subscriber's week in ≈${activeDays} effective active days (day concentration ${result.dayConcentration.toFixed(2)}), calibrated at ${SHAPE_RESOLUTION_MINUTES}-minute resolution so the peak rule newly limits ${percent(scenario.demand.peak_rule_newly_limited_share ?? 0)} of subscribers before the deal (${percent(result.peakRuleNewlyLimited)} in this run).`
    : `Demand shape: each subscriber's week in ≈${activeDays} effective active days (given); the peak rule newly limits ${percent(result.peakRuleNewlyLimited)} of subscribers before the deal.`;
  const assumption =
    scenario.demand.calibrate === "baseline_at_target"
      ? `assumes the provider ran exactly at these service levels the week before the deal (baseline_at_target: demand ×${result.calibratedScale.toPrecision(4)} the scenario's figures)`
      : `assumes the scenario's demand as stated (× ${scenario.demand.scale}, not calibrated)`;
  return [
    serviceLevelsLine(scenario),
    shape,
    ...perUser,
    demand,
    "Break-even demand: the largest demand (× the demand used) at which the policy meets every service level; above ×1.00 it holds. In GPU-equivalents: the fleet, scaled as a whole, that would sit exactly at the levels.",
    "",
    header,
    ...lines,
    "",
    `Verdicts (each ${assumption}):`,
    verdictLine(before, 0),
    verdictLine(after, 1),
  ].join("\n");
}

/** Shares too small for one decimal of a percent (shed shares near 0.1%). */
const percentFine = (share: number) =>
  share > 0 && share < 0.001 ? `${(share * 100).toPrecision(2)}%` : percent(share);

const worstHour = (run: SimulationResult) => {
  const { worstHour: worst } = run.service;
  const when = new Date(worst.startMs).toISOString().slice(5, 16).replace("T", " ");
  return `${worst.p95TtftS.toFixed(2)} s (${worst.family}, ${when}Z)`;
};

const speeds = (run: SimulationResult) =>
  Object.entries(run.service.speed)
    .map(([family, { tokensPerSPerUser }]) => `${family} ${Math.round(tokensPerSPerUser)}`)
    .join(" ");

const levelsMet = (run: SimulationResult) =>
  run.service.missed.length === 0 ? "met" : `missed: ${run.service.missed.join(", ")}`;

/** A capacity margin in reference GPUs: spare when positive, needed when negative. */
const hardware = (gpus: number) =>
  !Number.isFinite(gpus)
    ? "no fleet size meets it"
    : gpus >= 0
      ? `${Math.round(gpus).toLocaleString("en-US")} spare`
      : `needs ${Math.round(-gpus).toLocaleString("en-US")} more`;

/** Capacity and demand across the simulated week for one side, for its tightest model family. */
export function weekChart(side: SideResult, resolutionMinutes: number): string {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: 900, height: 320 });
  // One point per 10 minutes keeps the SVG small; the simulation itself runs at full resolution.
  const every = Math.max(1, Math.round(10 / resolutionMinutes));
  const points = (series: Float64Array) => {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < series.length; i += every)
      out.push([side.startMs + i * resolutionMinutes * 60_000, (series[i] as number) / 1e6]);
    return out;
  };
  chart.setOption({
    animation: false,
    title: {
      text: `Week ${side.label} the deal: ${side.baseline.tightest.family} capacity vs demand (baseline limits; the tightest family)`,
      left: "center",
      textStyle: { fontSize: 14 },
    },
    legend: { bottom: 0 },
    grid: { left: 60, right: 20, top: 40, bottom: 50 },
    xAxis: { type: "time" },
    yAxis: { type: "value", name: "M output tokens/s" },
    series: [
      {
        name: "capacity",
        type: "line",
        showSymbol: false,
        data: points(side.baseline.tightest.capacity),
        lineStyle: { width: 2 },
      },
      {
        name: "demand (subscriptions + API)",
        type: "line",
        showSymbol: false,
        data: points(side.baseline.tightest.demand),
        areaStyle: { opacity: 0.25 },
      },
    ],
  });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return svg;
}

const escapeHtml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A variant's margin, or why there is none (a fact no demand shape meets). */
const marginOf = (margins: Margins | null, instant: keyof Margins) =>
  margins ? times(margins[instant], 3) : "unreachable";

/** The sensitivity table: the doubling verdict's margin at each instant, input by input. */
export function sensitivityReport(result: PlanResult): string {
  const { sensitivity } = result;
  const rows: string[][] = [
    ["input", "low", "high", "before: low / high", "after: low / high"],
    ["(as given)", "", "", times(sensitivity.base.before, 3), times(sensitivity.base.after, 3)],
    ...sensitivity.rows.map((row) => [
      row.factor,
      row.lowLabel,
      row.highLabel,
      `${marginOf(row.low, "before")} / ${marginOf(row.high, "before")}`,
      `${marginOf(row.low, "after")} / ${marginOf(row.high, "after")}`,
    ]),
  ];
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  const lines = rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
  return [
    `Sensitivity of the margin of "5-hour ×2, peak lifted" (break-even demand ÷ demand used; above ×1.00 the verdict is yes), at ${sensitivity.resolutionMinutes}-minute resolution, each input moved alone:`,
    "",
    ...lines,
  ].join("\n");
}

/** A tornado chart of the margin after the deal (and before), widest swing on top. */
export function tornadoChart(result: PlanResult): string {
  const { sensitivity } = result;
  // A variant that could not be calibrated draws no bar on its side.
  const at = (margins: Margins | null, instant: keyof Margins) => (margins ?? sensitivity.base)[instant];
  const swing = (row: SensitivityRow) => Math.abs(at(row.high, "after") - at(row.low, "after"));
  const rows = [...sensitivity.rows].sort((a, b) => swing(a) - swing(b));
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: 900, height: 360 });
  const labels = rows.map((row) => `${row.factor} (${row.lowLabel} / ${row.highLabel})`);
  const bar = (instant: "before" | "after", name: string, color: string) => ({
    name,
    type: "custom",
    renderItem: (_: unknown, api: { value: (i: number) => number; coord: (p: number[]) => number[] }) => {
      const low = api.coord([api.value(0), api.value(2)]);
      const high = api.coord([api.value(1), api.value(2)]);
      const y = (low[1] as number) + (instant === "after" ? -9 : 3);
      return {
        type: "rect",
        shape: {
          x: Math.min(low[0] as number, high[0] as number),
          y,
          width: Math.abs((high[0] as number) - (low[0] as number)) || 1,
          height: 6,
        },
        style: { fill: color },
      };
    },
    encode: { x: [0, 1], y: 2 },
    data: rows.map((row, i) => [at(row.low, instant), at(row.high, instant), i]),
  });
  chart.setOption({
    animation: false,
    title: {
      text: "Margin of “5-hour ×2, peak lifted” as each input moves (×1 = break-even)",
      left: "center",
      textStyle: { fontSize: 14 },
    },
    legend: { bottom: 0 },
    grid: { left: 280, right: 30, top: 40, bottom: 50 },
    xAxis: { type: "log", name: "margin (× demand used)", nameLocation: "middle", nameGap: 25 },
    yAxis: { type: "category", data: labels },
    series: [
      bar("after", "after the deal", "#2f7ed8"),
      bar("before", "before the deal", "#d9534f"),
      {
        name: "break-even",
        type: "line",
        data: [],
        markLine: { symbol: "none", data: [{ xAxis: 1 }], lineStyle: { color: "#333", type: "dashed" } },
      },
    ],
  });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return svg;
}

export function htmlReport(result: PlanResult, charts: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>headroom plan</title>
<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}pre{background:#f6f6f6;padding:1em;overflow:auto}</style>
</head><body>
<h1>Capacity plan: before and after the deal</h1>
<pre>${escapeHtml(textReport(result))}</pre>
${charts.join("\n")}
<h2>How far the verdict is from flipping</h2>
<pre>${escapeHtml(sensitivityReport(result))}</pre>
<p>Simulated at ${result.scenario.resolution_minutes}-minute resolution over ${result.scenario.days} days, seed ${result.scenario.seed}.</p>
</body></html>
`;
}

/** The service levels a scenario judges by, in one sentence. */
function serviceLevelsLine(scenario: PlanResult["scenario"]): string {
  const levels = scenario.service_levels;
  const speeds = Object.entries(levels.min_tokens_per_s_per_user)
    .map(([family, speed]) => `${family} ≥ ${speed}`)
    .join(", ");
  const overload =
    scenario.target_overload_share === undefined
      ? ""
      : `; at most ${percent(scenario.target_overload_share)} of minutes overloaded`;
  return `Service levels: at most ${percent(levels.max_shed_share)} of requests shed (529); p95 time to first token ≤ ${levels.p95_ttft_s} s in every hour and family; requests wait at most ${levels.max_queue_s} s for a slot; per-user speed ≥ ${speeds || "each model's interactivity target"}${overload}.`;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The plan over months as a table: one line per week. */
export function overTimeReport(result: OverTimeResult): string {
  const { calibration, options, points } = result;
  const reference = calibration.scenario.reference_gpu.toUpperCase();
  const rows: string[][] = [
    [
      "week of",
      "GPUs installed",
      "online",
      `${reference}-eq`,
      "demand",
      "peak util.",
      "margin ×1",
      "margin ×2 + lifted",
    ],
    ...points.map((point) => [
      day(point.startMs),
      point.gpusInstalled.toLocaleString("en-US"),
      point.gpusOnline.toLocaleString("en-US"),
      Math.round(point.gpuEquivalents).toLocaleString("en-US"),
      times(point.growth),
      percent(point.peakUtilisation),
      found(point.margin.baseline, 3, "×1/16"),
      found(point.margin.doubledPeakLifted, 3, "×1/16"),
    ]),
  ];
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  const lines = rows.map((row) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  "),
  );
  const { scenario } = calibration;
  const holds = result.doubledHoldsFrom;
  const fails = result.doubledFailsFrom;
  const runway =
    holds === null
      ? `"5-hour ×2, peak lifted" meets the service levels in no week up to ${day(options.untilMs)}.`
      : fails === null
        ? `"5-hour ×2, peak lifted" meets the service levels from the week of ${day(holds)} through ${day(options.untilMs)}.`
        : `"5-hour ×2, peak lifted" meets the service levels from the week of ${day(holds)} until the week of ${day(fails)}, when demand has outgrown the fleet.`;
  return [
    serviceLevelsLine(scenario),
    `Demand grows ${percent(scenario.demand.weekly_growth)} a week from ${day(Date.parse(scenario.compare.before))}; ${scenario.demand.calibrate === "baseline_at_target" ? "calibrated so the baseline sits exactly at the service levels that week" : "as stated, not calibrated"}; GPUs down: ${percent(result.calibration.prepared.fleet.down_share ?? 0)}. Each week simulated at ${scenario.resolution_minutes}-minute resolution, every ${options.stepDays} days.`,
    "Margin: the largest demand (× the demand of that week) at which the policy meets every service level; under ×1 it does not.",
    "",
    ...lines,
    "",
    runway,
  ].join("\n");
}

/** Capacity and the margins over months. */
export function overTimeChart(result: OverTimeResult): string {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: 900, height: 360 });
  const reference = result.calibration.scenario.reference_gpu.toUpperCase();
  const series = (pick: (point: WeekPoint) => number) =>
    result.points.map((point) => [point.startMs, pick(point)] as [number, number]);
  chart.setOption({
    animation: false,
    title: {
      text: "Capacity and margins over months (×1 = the service levels exactly met)",
      left: "center",
      textStyle: { fontSize: 14 },
    },
    legend: { bottom: 0 },
    grid: { left: 70, right: 70, top: 40, bottom: 50 },
    xAxis: { type: "time" },
    yAxis: [
      { type: "value", name: `${reference}-equivalents online` },
      { type: "log", name: "margin (× demand)", position: "right" },
    ],
    series: [
      {
        name: `${reference}-equivalents online`,
        type: "line",
        step: "end",
        showSymbol: false,
        areaStyle: { opacity: 0.15 },
        data: series((point) => point.gpuEquivalents),
      },
      {
        name: "margin, limits as they are",
        type: "line",
        yAxisIndex: 1,
        showSymbol: false,
        data: series((point) => Math.max(1 / 16, point.margin.baseline.value)),
      },
      {
        name: "margin, 5-hour ×2 + peak lifted",
        type: "line",
        yAxisIndex: 1,
        showSymbol: false,
        data: series((point) => Math.max(1 / 16, point.margin.doubledPeakLifted.value)),
        markLine: {
          symbol: "none",
          data: [{ yAxis: 1 }],
          lineStyle: { color: "#333", type: "dashed" },
          label: { formatter: "×1" },
        },
      },
    ],
  });
  const svg = chart.renderToSVGString();
  chart.dispose();
  // A title element names the picture for screen readers and for readers of a bare file; the
  // renderer's hover styles (a CDATA block) mean nothing in a static picture.
  return svg
    .replace(/<style[^>]*><!\[CDATA\[[\s\S]*?\]\]>\s*<\/style>/g, "")
    .replace(
      /^(<svg[^>]*>)/,
      `$1<title>${reference}-equivalents online and the margins of the limits over months</title>`,
    );
}
