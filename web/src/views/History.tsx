// History (#/history): the workspace's timeline (commits, plans, snapshots, audited actions) from
// `/history`; choosing an entry shows its change (`/history show ID`), a diff when it has one.

import { useState } from "react";
import { api, type OperationAnswer } from "../api";
import { Loading, ProblemView, formatWhen, useLoad } from "../ui";

export interface HistoryEntry {
  id: string;
  kind: string;
  time: string;
  what: string;
  actor?: string | null;
  origin?: string | null;
  guests?: string[];
  files?: string[];
  commit?: string | null;
}

/** A class per diff line, so additions and removals read at a glance (and by their sign). */
export function diffLineClass(line: string): string {
  if (line.startsWith("+++") || line.startsWith("---")) return "diff-file";
  if (line.startsWith("@@")) return "diff-hunk";
  if (/^\s*\+/.test(line)) return "diff-add";
  if (/^\s*-/.test(line)) return "diff-remove";
  if (/^\s*~/.test(line)) return "diff-change";
  return "";
}

function EntryDetail({ id }: { id: string }) {
  const loaded = useLoad(
    () => api.get<OperationAnswer>(`/history?show=${encodeURIComponent(id)}`),
    `history-${id}`,
  );
  if (loaded.loading) return <Loading what={id} />;
  if (loaded.error) return <ProblemView error={loaded.error} title={`Could not show ${id}`} />;
  const text = (loaded.data?.messages ?? []).map((m) => m.text).join("\n");
  const data = loaded.data?.data;
  return (
    <div className="history-detail" data-history-detail={id}>
      {text ? (
        <pre className="diff">
          {text.split("\n").map((line, i) => (
            <span key={i} className={diffLineClass(line)}>
              {line}
              {"\n"}
            </span>
          ))}
        </pre>
      ) : null}
      {data != null ? <pre className="json">{JSON.stringify(data, null, 2)}</pre> : null}
      {!text && data == null ? <p className="muted">This entry has no diff.</p> : null}
    </div>
  );
}

export function History({ refreshKey }: { refreshKey: number }) {
  const loaded = useLoad(() => api.get<OperationAnswer<{ entries: HistoryEntry[] }>>("/history"), `history-${refreshKey}`);
  const [open, setOpen] = useState<string | null>(null);
  const entries = loaded.data?.data?.entries ?? [];
  return (
    <>
      <div className="page-head">
        <h1>History</h1>
        <button type="button" onClick={loaded.reload}>
          Refresh
        </button>
      </div>
      {loaded.loading && !loaded.data ? <Loading what="the history" /> : null}
      <ProblemView error={loaded.error} title="Could not load the history" />
      <ol className="timeline">
        {entries.map((e) => (
          <li key={e.id} data-history={e.id} className={`timeline-item kind-${e.kind}`}>
            <button type="button" className="timeline-button" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)}>
              <time dateTime={e.time}>{formatWhen(e.time)}</time>
              <span className="kind">{e.kind}</span>
              <span className="what">{e.what}</span>
              {e.actor && e.actor !== "-" ? (
                <span className="muted">
                  {" "}
                  by {e.actor}
                  {e.origin ? ` (${e.origin})` : ""}
                </span>
              ) : null}
            </button>
            {open === e.id ? <EntryDetail id={e.id} /> : null}
          </li>
        ))}
      </ol>
      {!loaded.loading && entries.length === 0 && !loaded.error ? <p className="muted">Nothing happened yet.</p> : null}
    </>
  );
}
