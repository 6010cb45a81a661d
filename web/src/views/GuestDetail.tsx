// One guest (#/guests/NAME): its fields in the file next to the live values (drifted ones marked)
// and its RRD charts over an hour, a day or a week.

import { useState } from "react";
import { api, unwrap } from "../api";
import { hrefFor } from "../routes";
import { BadgeView, Loading, ProblemView, Section, useLoad } from "../ui";
import { RrdCharts, type RrdPoint } from "./Charts";

export interface CompareField {
  field: string;
  file: unknown;
  live: unknown;
  base: unknown;
  drifted: boolean;
  pending: boolean;
}

export interface CompareData {
  guest: { name: string; vmid: number | null; kind: string | null; node: string | null; status?: string; badge: string; file: string | null };
  fields: CompareField[];
}

export function showValue(v: unknown): string {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x !== "object")) return v.join(", ");
  return JSON.stringify(v);
}

const TIMEFRAMES = ["hour", "day", "week"] as const;

export function GuestDetail({ name, refreshKey, mayEdit }: { name: string; refreshKey: number; mayEdit: boolean }) {
  const q = encodeURIComponent(name);
  const compare = useLoad(async () => unwrap<CompareData>(await api.get(`/overview?guest=${q}`)), `compare-${name}-${refreshKey}`);
  const [timeframe, setTimeframe] = useState<(typeof TIMEFRAMES)[number]>("hour");
  const rrd = useLoad(
    async () => unwrap<{ points: RrdPoint[] }>(await api.get(`/metrics?guest=${q}&timeframe=${timeframe}`)),
    `rrd-${name}-${timeframe}-${refreshKey}`,
  );
  const guest = compare.data?.guest;
  return (
    <>
      <div className="page-head">
        <p>
          <a href="#/">← Overview</a>
        </p>
        <h1>
          {name} {guest ? <BadgeView badge={guest.badge} /> : null}
        </h1>
        {guest ? (
          <p className="muted">
            {guest.kind ?? "guest"} {guest.vmid ?? ""} {guest.node ? `on ${guest.node}` : ""}
            {guest.status ? ` · ${guest.status}` : ""}
            {guest.file ? <> · file <code>{guest.file}</code></> : " · no file"}
          </p>
        ) : null}
        {mayEdit ? (
          <a className="button primary" href={hrefFor({ view: "edit", guest: name })}>
            Edit definition
          </a>
        ) : null}
      </div>
      <Section title="File and cluster" actions={<button type="button" onClick={compare.reload}>Refresh</button>}>
        {compare.loading && !compare.data ? <Loading what="the comparison" /> : null}
        <ProblemView error={compare.error} title="Could not compare" />
        {compare.data ? (
          <div className="table-wrap">
            <table className="compare">
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">File</th>
                  <th scope="col">Live</th>
                  <th scope="col" className="hide-narrow">Last sync</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {compare.data.fields.map((f) => (
                  <tr
                    key={f.field}
                    data-field={f.field}
                    data-drifted={f.drifted ? "true" : "false"}
                    data-pending={f.pending ? "true" : "false"}
                    className={f.drifted ? "row-drifted" : f.pending ? "row-pending" : undefined}
                  >
                    <th scope="row">{f.field}</th>
                    <td>{showValue(f.file)}</td>
                    <td>{showValue(f.live)}</td>
                    <td className="hide-narrow">{showValue(f.base)}</td>
                    <td>
                      {f.drifted ? <BadgeView badge="drifted" /> : f.pending ? <BadgeView badge="pending" /> : <span className="muted">same</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </Section>
      <Section
        title="Usage"
        actions={
          <div role="group" aria-label="Timeframe" className="segmented">
            {TIMEFRAMES.map((t) => (
              <button key={t} type="button" aria-pressed={timeframe === t} onClick={() => setTimeframe(t)}>
                {t}
              </button>
            ))}
          </div>
        }
      >
        {rrd.loading && !rrd.data ? <Loading what="the charts" /> : null}
        <ProblemView error={rrd.error} title="Could not load the charts" />
        {rrd.data ? <RrdCharts points={rrd.data.points ?? []} timeframe={timeframe} /> : null}
      </Section>
    </>
  );
}
