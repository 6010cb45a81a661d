// Scaling for the guest's RRD charts (inline SVG, no chart library): series of (time, value)
// points become polyline coordinates in a fixed viewBox, with a "nice" maximum for the axis.

export interface Series {
  label: string;
  values: (number | null | undefined)[];
}

export interface ScaledChart {
  width: number;
  height: number;
  /** Upper end of the value axis (the lower end is 0). */
  max: number;
  /** One SVG `points` attribute per series (segments split where a value is missing). */
  lines: string[][];
  tMin: number;
  tMax: number;
}

/** The smallest of 1, 2, 2.5, 5 x 10^n at or above `v` (1 for 0 or less). */
export function niceMax(v: number): number {
  if (!Number.isFinite(v) || v <= 0) return 1;
  const exp = Math.floor(Math.log10(v));
  const base = Math.pow(10, exp);
  for (const m of [1, 2, 2.5, 5, 10]) {
    const candidate = m * base;
    if (candidate >= v * (1 - 1e-12)) return candidate;
  }
  return 10 * base;
}

/** niceMax in the binary unit the label will use (KiB, MiB, ...), so the axis reads 20 KiB, not 19.5. */
export function niceBytesMax(v: number): number {
  if (!Number.isFinite(v) || v <= 0) return 1;
  let unit = 1;
  while (v / unit >= 1024) unit *= 1024;
  return niceMax(v / unit) * unit;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * Scales the series over `times` into a `width` x `height` box (y grows downwards in SVG, so a
 * value of 0 sits on the bottom edge). `fixedMax` pins the axis (CPU: 1).
 */
export function scaleChart(
  times: number[],
  series: Series[],
  width: number,
  height: number,
  fixedMax?: number,
  nice: (v: number) => number = niceMax,
): ScaledChart {
  const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  const all = series.flatMap((s) => s.values.filter(finite));
  const max = fixedMax ?? nice(all.length ? Math.max(...all) : 0);
  const tMin = times.length ? Math.min(...times) : 0;
  const tMax = times.length ? Math.max(...times) : 0;
  const span = tMax - tMin;
  const x = (t: number) => (span > 0 ? ((t - tMin) / span) * width : width / 2);
  const y = (v: number) => height - (Math.min(Math.max(v, 0), max) / max) * height;
  const lines = series.map((s) => {
    const segments: string[] = [];
    let current: string[] = [];
    times.forEach((t, i) => {
      const v = s.values[i];
      if (finite(v) && finite(t)) {
        current.push(`${round(x(t))},${round(y(v))}`);
      } else if (current.length) {
        segments.push(current.join(" "));
        current = [];
      }
    });
    if (current.length) segments.push(current.join(" "));
    return segments;
  });
  return { width, height, max, lines, tMin, tMax };
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatBytes(n: number | null | undefined, suffix = ""): string {
  if (n == null || !Number.isFinite(n)) return "–";
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u += 1;
  }
  const text = u === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v.toFixed(1);
  return `${n < 0 ? "-" : ""}${text} ${UNITS[u]}${suffix}`;
}

export function formatPercent(fraction: number | null | undefined): string {
  if (fraction == null || !Number.isFinite(fraction)) return "–";
  return `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)}%`;
}

export function formatTime(unix: number, timeframe: string): string {
  const d = new Date(unix * 1000);
  const hh = String(d.getHours()).padStart(2, "0");
  const mm = String(d.getMinutes()).padStart(2, "0");
  if (timeframe === "hour" || timeframe === "day") return `${hh}:${mm}`;
  return `${d.getMonth() + 1}/${d.getDate()}`;
}
