// The guest's RRD charts as inline SVG: CPU, memory, network in/out and disk read/write, each a
// small line chart with its axis maximum, time span and latest values as text.

import { formatBytes, formatPercent, formatTime, niceBytesMax, scaleChart, type Series } from "../chart";

export interface RrdPoint {
  time: number;
  cpu?: number | null;
  mem?: number | null;
  maxmem?: number | null;
  netin?: number | null;
  netout?: number | null;
  diskread?: number | null;
  diskwrite?: number | null;
}

const W = 300;
const H = 100;

export function LineChart({
  title,
  times,
  series,
  format,
  fixedMax,
  timeframe,
  bytes = false,
}: {
  title: string;
  times: number[];
  series: Series[];
  format: (v: number) => string;
  fixedMax?: number;
  timeframe: string;
  /** Byte values: the axis maximum is a round number of KiB, MiB, ... */
  bytes?: boolean;
}) {
  const chart = scaleChart(times, series, W, H, fixedMax, bytes ? niceBytesMax : undefined);
  const latest = series.map((s) => {
    for (let i = s.values.length - 1; i >= 0; i--) {
      const v = s.values[i];
      if (typeof v === "number" && Number.isFinite(v)) return `${s.label} ${format(v)}`;
    }
    return `${s.label} –`;
  });
  const summary = `${title}: ${times.length} points, latest ${latest.join(", ")}, axis up to ${format(chart.max)}`;
  return (
    <figure className="chart" data-chart={title}>
      <figcaption>
        <strong>{title}</strong>
        <span className="chart-legend">
          {series.map((s, i) => (
            <span key={s.label} className={`legend legend-${i}`}>
              <span className="legend-swatch" aria-hidden="true" />
              {latest[i]}
            </span>
          ))}
        </span>
      </figcaption>
      <div className="chart-body">
        <span className="chart-max">{format(chart.max)}</span>
        <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={summary}>
          <line x1="0" y1={H} x2={W} y2={H} className="chart-axis" />
          <line x1="0" y1={H / 2} x2={W} y2={H / 2} className="chart-grid" />
          <line x1="0" y1="0" x2={W} y2="0" className="chart-grid" />
          {chart.lines.map((segments, i) =>
            segments.map((points, j) => (
              <polyline key={`${i}-${j}`} points={points} className={`chart-line line-${i}`} vectorEffect="non-scaling-stroke" />
            )),
          )}
        </svg>
        {times.length === 0 ? <span className="chart-empty">no data</span> : null}
      </div>
      {times.length > 0 ? (
        <div className="chart-times muted">
          <span>{formatTime(chart.tMin, timeframe)}</span>
          <span>{formatTime(chart.tMax, timeframe)}</span>
        </div>
      ) : null}
    </figure>
  );
}

export function RrdCharts({ points, timeframe }: { points: RrdPoint[]; timeframe: string }) {
  const sorted = [...points].filter((p) => typeof p.time === "number").sort((a, b) => a.time - b.time);
  const times = sorted.map((p) => p.time);
  const maxmem = sorted.reduce((m, p) => Math.max(m, p.maxmem ?? 0), 0);
  const perSec = (v: number) => formatBytes(v, "/s");
  return (
    <div className="charts">
      <LineChart
        title="CPU"
        times={times}
        series={[{ label: "cpu", values: sorted.map((p) => p.cpu) }]}
        format={formatPercent}
        fixedMax={1}
        timeframe={timeframe}
      />
      <LineChart
        title="Memory"
        times={times}
        series={[{ label: "used", values: sorted.map((p) => p.mem) }]}
        format={(v) => formatBytes(v)}
        fixedMax={maxmem > 0 ? maxmem : undefined}
        timeframe={timeframe}
        bytes
      />
      <LineChart
        title="Network"
        times={times}
        series={[
          { label: "in", values: sorted.map((p) => p.netin) },
          { label: "out", values: sorted.map((p) => p.netout) },
        ]}
        format={perSec}
        timeframe={timeframe}
        bytes
      />
      <LineChart
        title="Disk"
        times={times}
        series={[
          { label: "read", values: sorted.map((p) => p.diskread) },
          { label: "write", values: sorted.map((p) => p.diskwrite) },
        ]}
        format={perSec}
        timeframe={timeframe}
        bytes
      />
    </div>
  );
}
