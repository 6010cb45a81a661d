// Live progress of an apply job: each step with its messages as they arrive over the event
// stream, and the job's final status. If the stream fails, the job is polled instead.

import { useEffect, useReducer } from "react";
import { api, type Job, type Problem } from "../api";
import { openJobEvents, type EventFrame } from "../events";
import { ProblemView } from "../ui";

export interface StepState {
  step: number;
  address: string;
  guest: string;
  status: "running" | "done" | "failed" | "skipped" | string;
  detail: string | null;
  messages: string[];
}

export interface JobState {
  steps: StepState[];
  status: string;
  problem: Problem | null;
  transport: string;
  lagged: number;
}

export function outcomeOf(outcome: unknown): { status: string; detail: string | null } {
  if (typeof outcome === "string") return { status: outcome, detail: null };
  if (outcome && typeof outcome === "object") {
    const o = outcome as Record<string, unknown>;
    const status = typeof o.outcome === "string" ? o.outcome : "done";
    const detail = [o.detail, o.error, o.because].find((v) => typeof v === "string") as string | undefined;
    return { status, detail: detail ?? null };
  }
  return { status: "done", detail: null };
}

type Action = { type: "frame"; frame: EventFrame } | { type: "job"; job: Job } | { type: "transport"; transport: string };

export function jobReducer(state: JobState, action: Action): JobState {
  if (action.type === "transport") return { ...state, transport: action.transport };
  if (action.type === "job") {
    const job = action.job;
    let steps = state.steps;
    const data = job.result?.data as { steps?: { step: number; address: string; name: string; outcome: unknown }[] } | undefined;
    if (data && Array.isArray(data.steps)) {
      steps = data.steps.map((s) => {
        const prior = state.steps.find((p) => p.step === s.step);
        const o = outcomeOf(s.outcome);
        return { step: s.step, address: s.address, guest: s.name, status: o.status, detail: o.detail, messages: prior?.messages ?? [] };
      });
    }
    return { ...state, steps, status: job.status, problem: job.problem };
  }
  const f = action.frame;
  const upsert = (step: number, change: (s: StepState) => StepState): StepState[] => {
    const existing = state.steps.find((s) => s.step === step);
    const base: StepState = existing ?? {
      step,
      address: f.address ?? f.guest ?? `step ${step}`,
      guest: f.guest ?? "",
      status: "running",
      detail: null,
      messages: [],
    };
    const next = change(base);
    return existing ? state.steps.map((s) => (s.step === step ? next : s)) : [...state.steps, next].sort((a, b) => a.step - b.step);
  };
  switch (f.type) {
    case "step_started":
      return { ...state, steps: upsert(f.step ?? 0, (s) => ({ ...s, address: f.address ?? s.address, guest: f.guest ?? s.guest, status: "running" })) };
    case "step_progress":
      return { ...state, steps: upsert(f.step ?? 0, (s) => ({ ...s, messages: [...s.messages, String(f.message ?? "")] })) };
    case "step_finished": {
      const o = outcomeOf(f.outcome);
      return { ...state, steps: upsert(f.step ?? 0, (s) => ({ ...s, status: o.status, detail: o.detail })) };
    }
    case "job_finished":
      return { ...state, status: String(f.status ?? "finished"), problem: (f.problem as Problem | null) ?? null };
    case "lagged":
      return { ...state, lagged: state.lagged + Number(f.missed ?? 0) };
    default:
      return state;
  }
}

const FINAL = ["succeeded", "failed", "cancelled"];

export function JobProgress({ job }: { job: Job }) {
  const [state, dispatch] = useReducer(jobReducer, {
    steps: [],
    status: job.status,
    problem: job.problem,
    transport: "none",
    lagged: 0,
  });

  useEffect(() => {
    if (job.id < 0) {
      dispatch({ type: "job", job });
      return;
    }
    let done = false;
    let polling = false;
    // The final document fills in anything the stream missed (and the steps' outcomes).
    const finish = () => {
      api.waitJob(job.id, { intervalMs: 500, timeoutMs: 30 * 60 * 1000 }).then(
        (final) => dispatch({ type: "job", job: final }),
        () => undefined,
      );
    };
    const stream = openJobEvents(
      job.id,
      (frame) => {
        dispatch({ type: "frame", frame });
        dispatch({ type: "transport", transport: stream.transport() });
        if (frame.type === "job_finished" && !done) {
          done = true;
          stream.close();
          finish();
        }
      },
      () => {
        if (!done && !polling) {
          polling = true;
          dispatch({ type: "transport", transport: "polling" });
          finish();
        }
      },
    );
    return () => {
      done = true;
      stream.close();
    };
  }, [job]);

  const final = FINAL.includes(state.status);
  return (
    <section className="card job" aria-label="Apply progress" aria-busy={!final} data-transport={state.transport}>
      <h2>Applying{job.id >= 0 ? ` (job ${job.id})` : ""}</h2>
      <ol className="steps" aria-live="polite">
        {state.steps.map((s) => (
          <li key={s.step} data-step={s.step} data-step-status={s.status} className={`step step-${s.status}`}>
            <p>
              <span className="step-mark" aria-hidden="true">
                {s.status === "running" ? "…" : s.status === "done" || s.status === "already_done" ? "✓" : s.status === "failed" ? "✗" : "–"}
              </span>{" "}
              <strong>{s.address}</strong> <span className="step-status">{s.status.replace(/_/g, " ")}</span>
              {s.detail ? <span className="muted">: {s.detail}</span> : null}
            </p>
            {s.messages.length ? (
              <ul className="step-messages">
                {s.messages.map((m, i) => (
                  <li key={i}>
                    <code>{m}</code>
                  </li>
                ))}
              </ul>
            ) : null}
          </li>
        ))}
      </ol>
      {state.lagged ? <p className="muted">{state.lagged} events missed (the final status below is complete).</p> : null}
      <p role="status">
        {final ? (
          <strong data-job-status={state.status} className={`job-status job-${state.status}`}>
            {state.status === "succeeded" ? "✓ Apply succeeded" : `✗ Apply ${state.status}`}
          </strong>
        ) : (
          <span className="muted">Running…</span>
        )}
      </p>
      {state.problem ? <ProblemView error={state.problem} /> : null}
    </section>
  );
}
