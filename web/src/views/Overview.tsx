// The overview (#/): nodes with load and memory, and every guest with its badge, filterable.

import { useMemo, useState } from "react";
import { api, unwrap } from "../api";
import { ALL_BADGES, badgeInfo } from "../badge";
import { formatBytes, formatPercent } from "../chart";
import { hrefFor } from "../routes";
import { Bar, BadgeView, Loading, ProblemView, Section, formatWhen, useLoad } from "../ui";

export interface OverviewNode {
  name: string;
  status: string;
  cpu: number;
  maxcpu: number;
  mem: number;
  maxmem: number;
}

export interface OverviewGuest {
  name: string;
  vmid: number | null;
  kind: string | null;
  node: string | null;
  status: string;
  template?: boolean;
  tags: string[];
  pool: string | null;
  badge: string;
  file: string | null;
}

export interface OverviewData {
  nodes: OverviewNode[];
  guests: OverviewGuest[];
  synced_at: string | null;
  environment: string | null;
  endpoint?: string | null;
  counts?: Record<string, number>;
}

/** Whether a guest matches the filter text (every word must match some column). */
export function guestMatches(g: OverviewGuest, filter: string): boolean {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const hay = [g.name, g.vmid == null ? "" : String(g.vmid), g.kind ?? "", g.node ?? "", g.template ? "template" : "", g.status, g.pool ?? "", g.badge, badgeInfo(g.badge).label, ...(g.tags ?? [])]
    .join(" ")
    .toLowerCase();
  return words.every((w) => hay.includes(w));
}

export function Overview({ refreshKey }: { refreshKey: number }) {
  const loaded = useLoad(async () => unwrap<OverviewData>(await api.get("/overview")), `overview-${refreshKey}`);
  const [filter, setFilter] = useState("");
  const guests = useMemo(
    () => (loaded.data?.guests ?? []).filter((g) => guestMatches(g, filter)).sort((a, b) => (a.vmid ?? 0) - (b.vmid ?? 0)),
    [loaded.data, filter],
  );
  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const g of loaded.data?.guests ?? []) {
      const b = badgeInfo(g.badge).badge;
      c[b] = (c[b] ?? 0) + 1;
    }
    return c;
  }, [loaded.data]);

  if (loaded.loading && !loaded.data) return <Loading what="the overview" />;
  if (loaded.error) return <ProblemView error={loaded.error} title="Could not load the overview" />;
  const data = loaded.data;
  if (!data) return null;
  return (
    <>
      <div className="page-head">
        <h1>Overview</h1>
        <p className="muted">
          {data.environment ? <>Environment <strong>{data.environment}</strong> · </> : null}
          {data.endpoint ? <>{data.endpoint} · </> : null}
          last sync {formatWhen(data.synced_at)}
        </p>
        <button type="button" onClick={loaded.reload}>
          Refresh
        </button>
      </div>
      <Section title={`Nodes (${(data.nodes ?? []).length})`}>
        <ul className="nodes">
          {(data.nodes ?? []).map((n) => (
            <li key={n.name} className="node" data-node={n.name}>
              <div className="node-head">
                <strong>{n.name}</strong>
                <span className={`status status-${n.status}`}>{n.status}</span>
              </div>
              <Bar label="CPU" fraction={n.cpu} text={`${formatPercent(n.cpu)} of ${n.maxcpu} cores`} />
              <Bar
                label="Memory"
                fraction={n.maxmem > 0 ? n.mem / n.maxmem : 0}
                text={`${formatBytes(n.mem)} / ${formatBytes(n.maxmem)}`}
              />
            </li>
          ))}
        </ul>
      </Section>
      <Section title={`Guests (${(data.guests ?? []).length})`}>
        <div className="toolbar">
          <label htmlFor="guest-filter">Filter</label>
          <input
            id="guest-filter"
            type="search"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            placeholder="name, vmid, node, tag, pool, status, badge"
          />
          <span className="muted" aria-live="polite">
            {guests.length} shown
          </span>
        </div>
        <p className="badge-counts">
          {ALL_BADGES.map((b) => (
            <button key={b} type="button" className="link-button" onClick={() => setFilter(b)} aria-label={`Show ${b} guests`}>
              <BadgeView badge={b} /> {counts[b] ?? 0}
            </button>
          ))}
        </p>
        <div className="table-wrap">
          <table className="guests">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">VMID</th>
                <th scope="col">Kind</th>
                <th scope="col">Node</th>
                <th scope="col">Status</th>
                <th scope="col" className="hide-narrow">Tags</th>
                <th scope="col" className="hide-narrow">Pool</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {guests.map((g) => (
                <tr key={`${g.vmid}-${g.name}`} data-guest={g.name}>
                  <th scope="row">
                    <a href={hrefFor({ view: "guest", guest: g.name })}>{g.name}</a>
                  </th>
                  <td>{g.vmid}</td>
                  <td>
                    {g.kind ?? "—"}
                    {g.template ? <span className="muted"> (template)</span> : null}
                  </td>
                  <td>{g.node ?? "—"}</td>
                  <td>
                    <span className={`status status-${g.status}`}>{g.status}</span>
                  </td>
                  <td className="hide-narrow">
                    {(g.tags ?? []).map((t) => (
                      <span key={t} className="tag">
                        {t}
                      </span>
                    ))}
                  </td>
                  <td className="hide-narrow">{g.pool ?? ""}</td>
                  <td>
                    <BadgeView badge={g.badge} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {guests.length === 0 ? <p className="muted">No guest matches “{filter}”.</p> : null}
        </div>
      </Section>
    </>
  );
}
