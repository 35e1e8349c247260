/** A time-series chart (uPlot on a canvas), redrawn in place as data arrives. */
import { h } from "preact";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

/** Axis numbers people read at a glance: 5.1M, 250k. */
const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

export interface Series {
  label: string;
  values: Array<number | null>;
  color: string;
}

export function TimeChart(props: {
  title: string;
  /** x values: seconds since the epoch, or plain numbers with `xLabel` when `time` is false. */
  times: number[];
  series: Series[];
  unit: string;
  time?: boolean;
  xLabel?: string;
  stepped?: boolean;
}) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const data = [props.times, ...props.series.map((series) => series.values)] as uPlot.AlignedData;
  const shape = props.series.map((series) => series.label).join("|");
  useEffect(() => {
    if (!host.current) return;
    chart.current?.destroy();
    chart.current = new uPlot(
      {
        title: props.title,
        width: Math.max(320, host.current.clientWidth),
        height: 220,
        // From zero, with room above the highest line, so a flat capacity line is never clipped.
        scales: {
          x: { time: props.time !== false },
          y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
        },
        axes: [
          {},
          { label: props.unit, size: 64, values: (_u, ticks) => ticks.map((tick) => compact.format(tick)) },
        ],
        series: [
          {},
          ...props.series.map((series) => ({ label: series.label, stroke: series.color, width: 2 })),
        ],
      },
      data,
      host.current,
    );
    return () => chart.current?.destroy();
  }, [shape]);
  useEffect(() => {
    chart.current?.setData(data);
  });
  return h("figure", { class: "chart", "aria-label": props.title }, h("div", { ref: host }));
}
