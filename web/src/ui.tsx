// Small shared pieces: the problem display every view uses for API errors, badges, bars and a
// loader hook that re-runs when its inputs change.

import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError, type Problem } from "./api";
import { badgeInfo } from "./badge";

export function toProblemOf(err: unknown): Problem {
  if (err instanceof ApiError) return err.problem;
  if (err instanceof Error) return { title: err.message };
  if (err && typeof err === "object") {
    const p = err as Problem;
    if (typeof p.title === "string" || typeof p.detail === "string") return p;
  }
  return { title: String(err) };
}

export function ProblemView({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const p = toProblemOf(error);
  const hints = [...new Set([...(p.hint ? [p.hint] : []), ...(Array.isArray(p.hints) ? p.hints : [])])];
  return (
    <div className="problem" role="alert" data-problem-status={p.status ?? ""}>
      <p className="problem-title">
        {title ? `${title}: ` : ""}
        {p.title || "Something went wrong"}
        {p.status ? <span className="muted"> (HTTP {p.status})</span> : null}
      </p>
      {p.detail && p.detail !== p.title ? <p className="problem-detail">{p.detail}</p> : null}
      {Array.isArray(p.errors) && p.errors.length > 0 ? (
        <ul>
          {p.errors.map((e, i) => (
            <li key={i}>
              {e.field ? <code>{e.field}</code> : null} {e.message}
            </li>
          ))}
        </ul>
      ) : null}
      {hints.map((h) => (
        <p key={h} className="problem-hint">
          Hint: {h}
        </p>
      ))}
    </div>
  );
}

export function BadgeView({ badge }: { badge: string | null | undefined }) {
  const info = badgeInfo(badge);
  return (
    <span className={info.className} data-badge={info.badge === "unknown" ? String(badge ?? "unknown") : info.badge} title={info.description}>
      <span aria-hidden="true">{info.symbol}</span> {info.label}
    </span>
  );
}

/** A horizontal bar with its value as text (the text carries the meaning, the bar the glance). */
export function Bar({ label, fraction, text }: { label: string; fraction: number; text: string }) {
  const pct = Number.isFinite(fraction) ? Math.max(0, Math.min(1, fraction)) * 100 : 0;
  const level = pct >= 90 ? "bar-high" : pct >= 70 ? "bar-mid" : "bar-low";
  return (
    <div className="bar-row">
      <span className="bar-label">{label}</span>
      <span
        className="bar"
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(pct)}
        aria-valuetext={text}
      >
        <span className={`bar-fill ${level}`} style={{ width: `${pct}%` }} />
      </span>
      <span className="bar-text">{text}</span>
    </div>
  );
}

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `key` changes (and on reload); stale answers are dropped. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [round, setRound] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    loadRef.current().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [key, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { ...state, reload };
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card" aria-label={title}>
      <div className="card-head">
        <h2>{title}</h2>
        {actions ? <div className="card-actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}

export function formatWhen(iso: string | null | undefined): string {
  if (!iso) return "never";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString();
}
