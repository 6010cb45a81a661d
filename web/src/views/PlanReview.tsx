// The plan review (#/plan): what /apply would do, as a readable diff (field: old -> new, signed
// + - ~ per action), the policy results, and for operators "Approve and apply", which applies
// exactly this plan (plan_id + plan_hash) and follows the job's steps live.

import { useCallback, useEffect, useState } from "react";
import { api, type Job, type OperationAnswer, type OperationMessage } from "../api";
import { extractPlan, formatValue, planDiff, planSummary, policyResults, type DiffEntry, type PlanData } from "../plan";
import { hrefFor } from "../routes";
import { takePlan } from "../store";
import { Loading, ProblemView } from "../ui";
import { JobProgress } from "./JobProgress";

export function PlanDiff({ entries }: { entries: DiffEntry[] }) {
  if (entries.length === 0) {
    return (
      <p className="notice" data-plan-empty="true">
        No changes: the cluster matches the files.
      </p>
    );
  }
  return (
    <ol className="plan-diff">
      {entries.map((e) => (
        <li key={`${e.sign}-${e.address}`} className={`plan-change action-${e.action}`} data-change={e.name} data-action={e.action}>
          <p className="plan-head">
            <span className="sign" aria-hidden="true">
              {e.sign}
            </span>{" "}
            <strong>{e.address}</strong> <span className="muted">{e.verb}</span>
            {e.reason ? <span className="muted"> ({e.reason})</span> : null}
          </p>
          {e.lines.length ? (
            <ul className="plan-fields">
              {e.lines.map((l) => (
                <li key={l.key} data-plan-field={l.key} className={`field-${l.sign === "~" ? "change" : l.sign === "+" ? "add" : "remove"}`}>
                  <span className="sign" aria-label={l.sign === "+" ? "added" : l.sign === "-" ? "removed" : "changed"}>
                    {l.sign}
                  </span>{" "}
                  <code>{l.key}</code>: <span className="old">{formatValue(l.old)}</span> → <span className="new">{formatValue(l.new)}</span>
                </li>
              ))}
            </ul>
          ) : null}
          {e.refused.length ? (
            <ul className="refused" role="alert">
              {e.refused.map((r) => (
                <li key={r}>Refused: {r}</li>
              ))}
            </ul>
          ) : null}
        </li>
      ))}
    </ol>
  );
}

export function Messages({ messages, kinds }: { messages: OperationMessage[]; kinds: string[] }) {
  const shown = messages.filter((m) => kinds.includes(m.kind));
  if (!shown.length) return null;
  return (
    <ul className="messages">
      {shown.map((m, i) => (
        <li key={i} className={`message message-${m.kind}`}>
          {m.kind === "warning" ? "Warning: " : m.kind === "hint" ? "Hint: " : ""}
          {m.text}
        </li>
      ))}
    </ul>
  );
}

export function PlanReview({ mayApply, role, refreshKey }: { mayApply: boolean; role: string | null; refreshKey: number }) {
  const [handed] = useState(() => takePlan());
  const [plan, setPlan] = useState<PlanData | null>(handed?.plan ?? null);
  const [messages, setMessages] = useState<OperationMessage[]>(handed?.messages ?? []);
  const [source, setSource] = useState<string | null>(handed?.source ?? null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(!handed);
  const [job, setJob] = useState<Job | null>(null);
  const [applyError, setApplyError] = useState<unknown>(null);
  const [applying, setApplying] = useState(false);

  const replan = useCallback(async () => {
    setLoading(true);
    setError(null);
    setJob(null);
    setApplyError(null);
    try {
      const answer = await api.post<OperationAnswer>("/plan", {});
      setPlan(extractPlan(answer.data));
      setMessages(answer.messages ?? []);
      setSource(null);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    if (!handed) void replan();
  }, [handed, replan, refreshKey]);

  const entries = planDiff(plan);
  const summary = planSummary(plan);
  const policies = policyResults(messages);
  const otherWarnings = messages.filter((m) => m.kind === "warning" && !policies.some((p) => p.text === m.text));
  const refused = entries.some((e) => e.refused.length > 0);
  const canApply = mayApply && plan?.plan_id != null && entries.length > 0 && !refused && !job;

  const apply = async () => {
    if (!plan || plan.plan_id == null) return;
    setApplying(true);
    setApplyError(null);
    try {
      const answer = await api.post<{ job: Job } | OperationAnswer>("/apply", {
        yes: true,
        plan_id: plan.plan_id,
        plan_hash: plan.plan_hash ?? null,
      });
      if (answer && "job" in answer) setJob(answer.job);
      else
        setJob({
          id: -1,
          operation: "apply",
          status: "succeeded",
          result: answer as OperationAnswer,
          problem: null,
        });
    } catch (err) {
      setApplyError(err);
    } finally {
      setApplying(false);
    }
  };

  return (
    <>
      <div className="page-head">
        <h1>Plan</h1>
        <p className="muted">
          {plan?.plan_id != null ? <>Plan {plan.plan_id} · </> : null}
          {source ? <>{source} · </> : null}
          <span data-plan-summary="true">
            {summary.add} to add, {summary.change} to change, {summary.destroy} to destroy
          </span>
        </p>
        <button type="button" onClick={() => void replan()} disabled={loading || applying}>
          Plan again
        </button>
      </div>
      {loading ? <Loading what="the plan" /> : null}
      <ProblemView error={error} title="Could not plan" />
      {plan && !loading ? (
        <section className="card" aria-label="Changes">
          <PlanDiff entries={entries} />
          {policies.length ? (
            <div className="policy">
              <h2>Policy</h2>
              <ul>
                {policies.map((p) => (
                  <li key={p.text} className={`severity-${p.severity}`} data-policy-rule={p.rule}>
                    <strong>{p.severity}</strong> {p.rule} on {p.guest}: {p.description}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          <Messages messages={[...otherWarnings, ...messages.filter((m) => m.kind !== "warning")]} kinds={["warning", "hint", "status"]} />
          {!mayApply ? (
            <p className="muted" data-apply-hidden="true">
              Your role{role ? ` (${role})` : ""} may review plans but not apply them.
            </p>
          ) : canApply ? (
            <div className="form-actions">
              <button type="button" className="primary danger-outline" onClick={() => void apply()} disabled={applying} data-action="apply">
                {applying ? "Starting…" : "Approve and apply"}
              </button>
              <span className="muted">applies exactly plan {plan.plan_id}; a changed file or guest makes it stale</span>
            </div>
          ) : null}
        </section>
      ) : null}
      <ProblemView error={applyError} title="Not applied" />
      {job ? <JobProgress job={job} /> : null}
      {job ? (
        <p>
          <a href={hrefFor({ view: "overview" })}>Back to the overview</a>
        </p>
      ) : null}
    </>
  );
}
