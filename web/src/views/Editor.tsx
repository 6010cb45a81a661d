// The definition editor (#/guests/NAME/edit): a form with one labelled input per editable field,
// or the raw HCL. Saving sends only what changed; a 422 puts each message next to its field and
// keeps everything else as it was; a saved definition goes to the plan review with its plan.

import { useEffect, useState, type FormEvent } from "react";
import { ApiError, api, unwrap, type OperationAnswer, type Problem } from "../api";
import { mapFieldErrors, type MappedErrors } from "../fieldErrors";
import { changedFields, draftOf, fieldLabel, type Draft } from "../formModel";
import { extractPlan } from "../plan";
import { hrefFor, navigate } from "../routes";
import { handPlan } from "../store";
import { Loading, ProblemView, useLoad } from "../ui";

export interface DefinitionData {
  guest: string;
  vmid?: number | null;
  kind?: string | null;
  path: string;
  hcl: string;
  fields: Record<string, unknown>;
  disks?: { slot: string; value: string }[];
  editable: string[];
  rewritable?: boolean;
}

/** What each field takes, shown under its input. */
export const FIELD_HELP: Record<string, string> = {
  memory: "4G, 512M, or a bare number of MiB",
  cores: "CPU cores",
  sockets: "CPU sockets",
  tags: "comma separated",
  pool: "a pool id, empty for none",
  state: "whether the guest should be running",
  "add-disk": "a new disk: SIZE, STORAGE:SIZE or SLOT=STORAGE:SIZE (scsi1=local-lvm:10G)",
  "add-net": "a new NIC: BRIDGE[,tag=N][,firewall=1]",
  swap: "container swap: 512M, 1G or MiB",
};

const CHOICES: Record<string, string[]> = { state: ["running", "stopped"] };

function FieldErrorText({ field, errors }: { field: string; errors: MappedErrors }) {
  const messages = errors.byField[field];
  if (!messages?.length) return null;
  return (
    <p className="field-error" id={`error-${field}`} data-error-for={field} role="alert">
      {messages.join("; ")}
    </p>
  );
}

function FieldInput({
  name,
  draft,
  onChange,
  invalid,
}: {
  name: string;
  draft: Draft;
  onChange: (d: Draft) => void;
  invalid: boolean;
}) {
  const id = `field-${name}`;
  const help = FIELD_HELP[name];
  const describedBy = [help ? `help-${name}` : "", invalid ? `error-${name}` : ""].filter(Boolean).join(" ") || undefined;
  const common = { id, name, "aria-invalid": invalid || undefined, "aria-describedby": describedBy };
  const helpText = help ? (
    <span className="field-help muted" id={`help-${name}`}>
      {help}
    </span>
  ) : null;
  const choices = CHOICES[name];
  if (choices && draft.kind === "text") {
    const options = choices.includes(draft.value) || draft.value === "" ? choices : [draft.value, ...choices];
    return (
      <>
        <label htmlFor={id}>{fieldLabel(name)}</label>
        <select {...common} value={draft.value} onChange={(e) => onChange({ ...draft, value: e.target.value })}>
          {draft.value === "" ? <option value="">(unset)</option> : null}
          {options.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
        {helpText}
      </>
    );
  }
  switch (draft.kind) {
    case "bool":
      return (
        <label className="check">
          <input type="checkbox" {...common} checked={draft.value} onChange={(e) => onChange({ ...draft, value: e.target.checked })} />
          {fieldLabel(name)}
        </label>
      );
    case "disks":
      return (
        <>
          <span>{fieldLabel(name)}</span>
          <ul>
            {draft.rows.map((r, i) => (
              <li key={i}>{Object.values(r).join(" ")}</li>
            ))}
          </ul>
        </>
      );
    case "json":
      return (
        <>
          <label htmlFor={id}>{fieldLabel(name)} (JSON)</label>
          <textarea {...common} rows={4} value={draft.value} onChange={(e) => onChange({ ...draft, value: e.target.value })} />
        </>
      );
    case "text":
      if (draft.multiline) {
        return (
          <>
            <label htmlFor={id}>{fieldLabel(name)}</label>
            <textarea {...common} rows={3} value={draft.value} onChange={(e) => onChange({ ...draft, value: e.target.value })} />
            {helpText}
          </>
        );
      }
      break;
    default:
      break;
  }
  return (
    <>
      <label htmlFor={id}>
        {fieldLabel(name)}
        {draft.kind === "list" ? <span className="muted"> (comma separated)</span> : null}
      </label>
      <input
        {...common}
        type="text"
        inputMode={draft.kind === "number" ? "numeric" : undefined}
        value={(draft as { value: string }).value}
        onChange={(e) => onChange({ ...draft, value: e.target.value } as Draft)}
        spellCheck={false}
      />
      {helpText}
    </>
  );
}

export function Editor({ name }: { name: string }) {
  const loaded = useLoad(
    async () => unwrap<DefinitionData>(await api.get(`/definition?guest=${encodeURIComponent(name)}`)),
    `definition-${name}`,
  );
  const [tab, setTab] = useState<"form" | "hcl">("form");
  const [drafts, setDrafts] = useState<Record<string, Draft>>({});
  const [hcl, setHcl] = useState("");
  const [errors, setErrors] = useState<MappedErrors>({ byField: {}, general: [] });
  const [problem, setProblem] = useState<Problem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const d = loaded.data;
    if (!d) return;
    const next: Record<string, Draft> = {};
    for (const f of d.editable) next[f] = draftOf(f, d.fields[f] ?? "");
    setDrafts(next);
    setHcl(d.hcl);
  }, [loaded.data]);

  if (loaded.loading && !loaded.data) return <Loading what="the definition" />;
  if (loaded.error) return <ProblemView error={loaded.error} title={`Could not read ${name}'s definition`} />;
  const def = loaded.data;
  if (!def) return null;

  // Saving writes the file; the plan that follows is asked for separately, so a save that
  // worked is never reported as failed because planning did not.
  const save = async (body: Record<string, unknown>) => {
    setBusy(true);
    setNotice(null);
    setProblem(null);
    let written: string;
    try {
      const answer = unwrap<{ written?: boolean; path?: string }>(await api.post("/definition", { guest: name, ...body }));
      written = answer?.path ?? def.path;
      setErrors({ byField: {}, general: [] });
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError && err.status === 422) {
        const known = tab === "form" ? def.editable : [];
        const mapped = mapFieldErrors(err.problem, [...known, "hcl"]);
        setErrors(mapped);
        if (mapped.general.length === 0 && Object.keys(mapped.byField).length === 0) setProblem(err.problem);
      } else {
        setErrors({ byField: {}, general: [] });
        setProblem(err instanceof ApiError ? err.problem : { title: String(err) });
      }
      return;
    }
    try {
      const planned = await api.post<OperationAnswer>("/plan", {});
      const plan = extractPlan(planned.data);
      if (!plan) throw new ApiError(200, { title: "The plan answer holds no plan" });
      handPlan({ plan, messages: planned.messages ?? [], source: `${written} saved` });
      navigate({ view: "plan" });
    } catch (err) {
      setNotice(`Saved ${written}, but planning failed; the plan view plans again.`);
      setProblem(err instanceof ApiError ? err.problem : { title: String(err) });
    } finally {
      setBusy(false);
    }
  };

  const submitForm = (e: FormEvent) => {
    e.preventDefault();
    const { fields, errors: local } = changedFields(def.editable, def.fields, drafts);
    if (Object.keys(local).length) {
      setErrors({ byField: Object.fromEntries(Object.entries(local).map(([k, v]) => [k, [v]])), general: [] });
      return;
    }
    if (Object.keys(fields).length === 0) {
      setErrors({ byField: {}, general: [] });
      setNotice("Nothing changed.");
      return;
    }
    void save({ set: fields });
  };

  const submitHcl = (e: FormEvent) => {
    e.preventDefault();
    if (hcl === def.hcl) {
      setNotice("Nothing changed.");
      return;
    }
    void save({ hcl });
  };

  return (
    <>
      <div className="page-head">
        <p>
          <a href={hrefFor({ view: "guest", guest: name })}>← {name}</a>
        </p>
        <h1>Edit {name}</h1>
        <p className="muted">
          <code>{def.path}</code>
        </p>
      </div>
      {def.rewritable === false ? (
        <p className="notice">This file uses expressions the form cannot keep; saving the form may be refused. The HCL tab edits it as written.</p>
      ) : null}
      {def.disks?.length ? (
        <p className="muted" data-disks="true">
          Disks: {def.disks.map((d) => `${d.slot} (${d.value})`).join(", ")}
        </p>
      ) : null}
      <div role="tablist" aria-label="Editor" className="tabs">
        <button type="button" role="tab" id="tab-form" aria-controls="panel-form" aria-selected={tab === "form"} onClick={() => setTab("form")}>
          Form
        </button>
        <button type="button" role="tab" id="tab-hcl" aria-controls="panel-hcl" aria-selected={tab === "hcl"} onClick={() => setTab("hcl")}>
          HCL
        </button>
      </div>
      {errors.general.length ? (
        <div className="problem" role="alert" data-error-for="general">
          {errors.general.map((m) => (
            <p key={m}>{m}</p>
          ))}
        </div>
      ) : null}
      <ProblemView error={problem} title="Not saved" />
      {notice ? (
        <p className="notice" role="status">
          {notice}
        </p>
      ) : null}
      {tab === "form" ? (
        <form id="panel-form" role="tabpanel" aria-labelledby="tab-form" className="card editor-form" onSubmit={submitForm} noValidate>
          {def.editable.map((f) =>
            drafts[f] ? (
              <div className={`field${errors.byField[f] ? " field-invalid" : ""}`} key={f} data-field={f}>
                <FieldInput name={f} draft={drafts[f]} invalid={Boolean(errors.byField[f])} onChange={(d) => setDrafts((all) => ({ ...all, [f]: d }))} />
                <FieldErrorText field={f} errors={errors} />
              </div>
            ) : null,
          )}
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy}>
              {busy ? "Saving…" : "Save and plan"}
            </button>
            <a href={hrefFor({ view: "guest", guest: name })}>Cancel</a>
          </div>
        </form>
      ) : (
        <form id="panel-hcl" role="tabpanel" aria-labelledby="tab-hcl" className="card editor-form" onSubmit={submitHcl}>
          <div className={`field${errors.byField.hcl ? " field-invalid" : ""}`}>
            <label htmlFor="field-hcl">HCL of {def.path}</label>
            <textarea
              id="field-hcl"
              className="code"
              rows={24}
              spellCheck={false}
              value={hcl}
              onChange={(e) => setHcl(e.target.value)}
              aria-invalid={Boolean(errors.byField.hcl) || undefined}
              aria-describedby={errors.byField.hcl ? "error-hcl" : undefined}
            />
            <FieldErrorText field="hcl" errors={errors} />
          </div>
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy}>
              {busy ? "Saving…" : "Save and plan"}
            </button>
          </div>
        </form>
      )}
    </>
  );
}
