// Turns `/plan`'s data (src/plan: changes with action, resource, fields old -> new) into what the
// plan review shows: only the changes that do something, each with its terraform-style sign, and
// the policy results, which the server sends as warning messages ("policy RULE (severity) would
// fail on GUEST: ...").

import type { OperationMessage } from "./api";

export interface FieldChange {
  key: string;
  old: string | null;
  new: string | null;
}

export interface PlanChange {
  id?: number;
  action: string;
  resource?: string;
  name: string;
  vmid?: number | null;
  node?: string | null;
  fields?: FieldChange[];
  resizes?: { slot: string; from_bytes: number; to_bytes: number }[];
  reason?: string | null;
  refused?: string[];
  depends_on?: number[];
}

export interface PlanData {
  plan_id?: number;
  plan_hash?: string;
  based_on_serial?: number;
  summary?: { add?: number; change?: number; destroy?: number };
  changes?: PlanChange[];
  notes?: unknown[];
  [key: string]: unknown;
}

export interface DiffLine {
  key: string;
  old: string | null;
  new: string | null;
  /** `+` set where unset, `-` removed, `~` changed. */
  sign: "+" | "-" | "~";
}

export interface DiffEntry {
  sign: string;
  action: string;
  verb: string;
  address: string;
  name: string;
  lines: DiffLine[];
  reason: string | null;
  refused: string[];
}

export interface PolicyResult {
  rule: string;
  severity: string;
  guest: string;
  description: string;
  text: string;
}

const SIGNS: Record<string, { sign: string; verb: string }> = {
  create: { sign: "+", verb: "will be created" },
  update: { sign: "~", verb: "will be updated in place" },
  replace: { sign: "-/+", verb: "will be replaced" },
  delete: { sign: "-", verb: "will be destroyed" },
  destroy: { sign: "-", verb: "will be destroyed" },
};

export function actionSign(action: string): { sign: string; verb: string } {
  return SIGNS[action.toLowerCase()] ?? { sign: "?", verb: action };
}

/** `vm "web-01" (100 on pve1)`, as the console writes it. */
export function changeAddress(c: PlanChange): string {
  const place =
    c.vmid != null && c.node ? ` (${c.vmid} on ${c.node})` : c.vmid != null ? ` (${c.vmid})` : c.node ? ` (on ${c.node})` : "";
  return `${c.resource ?? "guest"} "${c.name}"${place}`;
}

export function fieldSign(f: FieldChange): "+" | "-" | "~" {
  if (f.old == null || f.old === "") return "+";
  if (f.new == null || f.new === "") return "-";
  return "~";
}

/** The changes that do something (no-ops dropped), in plan order. */
export function planDiff(data: PlanData | null | undefined): DiffEntry[] {
  const changes = Array.isArray(data?.changes) ? data!.changes : [];
  return changes
    .filter((c) => c && typeof c.action === "string" && c.action.toLowerCase() !== "noop")
    .map((c) => {
      const { sign, verb } = actionSign(c.action);
      return {
        sign,
        action: c.action,
        verb,
        address: changeAddress(c),
        name: c.name,
        lines: (c.fields ?? []).map((f) => ({ key: f.key, old: f.old ?? null, new: f.new ?? null, sign: fieldSign(f) })),
        reason: c.reason ?? null,
        refused: c.refused ?? [],
      };
    });
}

export function planSummary(data: PlanData | null | undefined): { add: number; change: number; destroy: number } {
  const s = data?.summary;
  if (s) return { add: s.add ?? 0, change: s.change ?? 0, destroy: s.destroy ?? 0 };
  const diff = planDiff(data);
  return {
    add: diff.filter((d) => d.sign === "+" || d.sign === "-/+").length,
    change: diff.filter((d) => d.sign === "~").length,
    destroy: diff.filter((d) => d.sign === "-" || d.sign === "-/+").length,
  };
}

const POLICY_RE = /^policy (\S+) \((\w+)\) would fail on (\S+): (.*)$/s;

/** Policy results among the messages; other warnings stay warnings. */
export function policyResults(messages: OperationMessage[] | null | undefined): PolicyResult[] {
  return (messages ?? [])
    .filter((m) => m.kind === "warning")
    .map((m) => {
      const match = POLICY_RE.exec(m.text);
      return match ? { rule: match[1], severity: match[2], guest: match[3], description: match[4], text: m.text } : null;
    })
    .filter((r): r is PolicyResult => r !== null);
}

/** The plan in an answer: `{"data": plan}`, the plan itself, or a list holding it. */
export function extractPlan(value: unknown): PlanData | null {
  if (!value || typeof value !== "object") return null;
  if (Array.isArray(value)) {
    for (const v of value) {
      const p = extractPlan(v);
      if (p) return p;
    }
    return null;
  }
  const obj = value as Record<string, unknown>;
  if (Array.isArray(obj.changes) || "plan_id" in obj) return obj as PlanData;
  if ("data" in obj) return extractPlan(obj.data);
  return null;
}

export function formatValue(v: string | null): string {
  return v == null ? "(unset)" : JSON.stringify(v);
}
