// Tests and policy (#/checks): runs `/test` (the tests/*.yml checks against the cluster) and
// `/policy` (the rules against the code, the plan or the live cluster), waiting for a job when
// the server answers 202.

import { useState, type FormEvent } from "react";
import { api, type OperationAnswer } from "../api";
import { ProblemView, Section } from "../ui";
import { Messages } from "./PlanReview";

interface TestCheck {
  group: string;
  name: string;
  status: string;
  message?: string | null;
  expected?: unknown;
  actual?: unknown;
  source?: string;
}
interface TestData {
  groups?: { group: string; status: string; checks: TestCheck[] }[];
  summary?: { passed: number; failed: number; skipped: number; total: number; ok: boolean };
  warnings?: string[];
}
interface Violation {
  rule: string;
  severity: string;
  guest: string;
  description: string;
  file?: string | null;
  line?: number | null;
}
interface PolicyData {
  checked?: number;
  violations?: Violation[];
  skipped?: [string, string][];
  rules?: { id: string; severity: string }[];
}

function useRun<T>() {
  const [answer, setAnswer] = useState<OperationAnswer<T> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (name: string, body: Record<string, unknown>) => {
    setBusy(true);
    setError(null);
    setAnswer(null);
    try {
      setAnswer(await api.runOperation<T>(name, body));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { answer, error, busy, run };
}

function TestResults({ data }: { data: TestData }) {
  const failing = (data.groups ?? []).flatMap((g) => g.checks.filter((c) => c.status !== "passed"));
  return (
    <div data-test-results="true">
      {data.summary ? (
        <p className={data.summary.ok ? "notice" : "problem"} data-test-ok={String(data.summary.ok)}>
          {data.summary.ok ? "✓" : "✗"} {data.summary.passed} passed, {data.summary.failed} failed, {data.summary.skipped} skipped of{" "}
          {data.summary.total}
        </p>
      ) : null}
      {failing.length ? (
        <ul>
          {failing.map((c, i) => (
            <li key={i}>
              <strong>{c.status}</strong> {c.group} {c.name}
              {c.message ? `: ${c.message}` : ""}
              {c.expected != null || c.actual != null ? ` (expected ${JSON.stringify(c.expected)}, got ${JSON.stringify(c.actual)})` : ""}
              {c.source ? <span className="muted"> {c.source}</span> : null}
            </li>
          ))}
        </ul>
      ) : null}
      <details>
        <summary>Every group ({data.groups?.length ?? 0})</summary>
        <ul>
          {(data.groups ?? []).map((g) => (
            <li key={g.group}>
              {g.status === "passed" || g.checks.every((c) => c.status === "passed") ? "✓" : "✗"} {g.group}: {g.checks.length} checks
            </li>
          ))}
        </ul>
      </details>
    </div>
  );
}

function PolicyResults({ data }: { data: PolicyData }) {
  const violations = data.violations ?? [];
  return (
    <div data-policy-results="true">
      <p
        className={
          violations.some((v) => v.severity === "error") ? "problem" : violations.some((v) => v.severity === "warning") ? "warn-box" : "notice"
        }
      >
        {data.checked ?? 0} guests checked against {data.rules?.length ?? 0} rules: {violations.length} violations
      </p>
      {violations.length ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Severity</th>
                <th scope="col">Rule</th>
                <th scope="col">Guest</th>
                <th scope="col" className="hide-narrow">Where</th>
                <th scope="col">What</th>
              </tr>
            </thead>
            <tbody>
              {violations.map((v, i) => (
                <tr key={i} className={`severity-${v.severity}`}>
                  <td>{v.severity}</td>
                  <td>{v.rule}</td>
                  <td>{v.guest}</td>
                  <td className="hide-narrow">{v.file ? `${v.file}${v.line ? `:${v.line}` : ""}` : ""}</td>
                  <td>{v.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {data.skipped?.length ? (
        <ul className="muted">
          {data.skipped.map(([rule, why]) => (
            <li key={rule}>
              skipped {rule}: {why}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Checks() {
  const tests = useRun<TestData>();
  const policy = useRun<PolicyData>();
  const [filter, setFilter] = useState("");
  const [tag, setTag] = useState("");
  const [on, setOn] = useState("code");
  const runTests = (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = {};
    if (filter.trim()) body.filter = filter.trim();
    if (tag.trim()) body.tag = tag.trim();
    void tests.run("test", body);
  };
  const runPolicy = (e: FormEvent) => {
    e.preventDefault();
    void policy.run("policy", { on });
  };
  return (
    <>
      <div className="page-head">
        <h1>Tests and policy</h1>
      </div>
      <Section title="Tests">
        <form className="inline-form" onSubmit={runTests}>
          <label>
            <span>Only checks containing</span>
            <input value={filter} onChange={(e) => setFilter(e.target.value)} name="filter" />
          </label>
          <label>
            <span>Only guests tagged</span>
            <input value={tag} onChange={(e) => setTag(e.target.value)} name="tag" />
          </label>
          <button type="submit" className="primary" disabled={tests.busy}>
            {tests.busy ? "Running tests…" : "Run tests"}
          </button>
        </form>
        <ProblemView error={tests.error} title="Tests" />
        {tests.answer ? <TestResults data={(tests.answer.data ?? {}) as TestData} /> : null}
        {tests.answer ? <Messages messages={tests.answer.messages ?? []} kinds={["warning", "hint"]} /> : null}
      </Section>
      <Section title="Policy">
        <form className="inline-form" onSubmit={runPolicy}>
          <label>
            <span>Check</span>
            <select value={on} onChange={(e) => setOn(e.target.value)} name="on">
              <option value="code">the code (.tf files)</option>
              <option value="plan">the plan (what apply would make)</option>
              <option value="live">the live cluster</option>
            </select>
          </label>
          <button type="submit" className="primary" disabled={policy.busy}>
            {policy.busy ? "Checking…" : "Check policy"}
          </button>
        </form>
        <ProblemView error={policy.error} title="Policy" />
        {policy.answer ? <PolicyResults data={(policy.answer.data ?? {}) as PolicyData} /> : null}
        {policy.answer ? <Messages messages={policy.answer.messages ?? []} kinds={["warning", "hint"]} /> : null}
      </Section>
    </>
  );
}
