// The editor's form model: each editable field of `GET /guests/NAME/definition` becomes a draft
// the inputs edit (text, a checkbox, rows of disks), and a save sends only the fields whose
// value differs from what was loaded, converted back to the type the server gave.

export interface DiskRow {
  slot: string;
  size: string;
  storage: string;
  [key: string]: string;
}

export type Draft =
  | { kind: "text"; value: string; multiline: boolean }
  | { kind: "number"; value: string }
  | { kind: "bool"; value: boolean }
  | { kind: "list"; value: string }
  | { kind: "disks"; rows: DiskRow[] }
  | { kind: "json"; value: string };

export function draftOf(field: string, value: unknown): Draft {
  if (typeof value === "boolean") return { kind: "bool", value };
  if (typeof value === "number") return { kind: "number", value: String(value) };
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "string" || typeof v === "number")) return { kind: "list", value: value.join(", ") };
    if (field === "disks" || value.every((v) => v && typeof v === "object" && "slot" in v)) {
      return {
        kind: "disks",
        rows: value.map((d) => {
          const row: DiskRow = { slot: "", size: "", storage: "" };
          for (const [k, v] of Object.entries(d as Record<string, unknown>)) row[k] = v == null ? "" : String(v);
          return row;
        }),
      };
    }
  }
  if (value === null || value === undefined) return { kind: "text", value: "", multiline: field === "description" };
  if (typeof value === "string") return { kind: "text", value, multiline: field === "description" || value.includes("\n") };
  return { kind: "json", value: JSON.stringify(value, null, 2) };
}

export class DraftError extends Error {}

/** The value a draft stands for, typed like `original` where the text allows. */
export function valueOf(draft: Draft, original: unknown): unknown {
  switch (draft.kind) {
    case "bool":
      return draft.value;
    case "number": {
      const t = draft.value.trim();
      // Not a number: sent as written, so the server's message says what is wrong with it.
      return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
    }
    case "list": {
      const items = draft.value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      if (Array.isArray(original) && original.every((v) => typeof v === "number")) {
        return items.map((s) => (/^-?\d+$/.test(s) ? Number(s) : s));
      }
      return items;
    }
    case "disks": {
      const originals = Array.isArray(original) ? (original as Record<string, unknown>[]) : [];
      return draft.rows
        .filter((r) => Object.values(r).some((v) => v.trim() !== ""))
        .map((r, i) => {
          const before = originals[i] ?? {};
          const out: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(r)) {
            const was = before[k];
            const t = v.trim();
            out[k] = typeof was === "number" && /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : typeof was === "boolean" ? t === "true" : t;
          }
          return out;
        });
    }
    case "json":
      try {
        return JSON.parse(draft.value);
      } catch {
        throw new DraftError("not valid JSON");
      }
    case "text":
      return original === null && draft.value === "" ? null : draft.value;
  }
}

/** Stable text for comparing values (object keys sorted). */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

/**
 * The fields to send: those whose draft value differs from the loaded one. Draft errors (bad
 * JSON) come back per field instead.
 */
export function changedFields(
  editable: readonly string[],
  original: Record<string, unknown>,
  drafts: Record<string, Draft>,
): { fields: Record<string, unknown>; errors: Record<string, string> } {
  const fields: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const name of editable) {
    const draft = drafts[name];
    if (!draft) continue;
    try {
      const was = original[name] ?? null;
      const value = valueOf(draft, was);
      // An input left empty for a field that had no value (add-disk) is not a change.
      if (was === null && (value === "" || value === null)) continue;
      if (canonical(value) !== canonical(was)) fields[name] = value;
    } catch (e) {
      errors[name] = e instanceof Error ? e.message : String(e);
    }
  }
  return { fields, errors };
}

/** `cores` → `Cores`, `on_boot` → `On boot`, `add-disk` → `Add disk`. */
export function fieldLabel(name: string): string {
  const spaced = name.replace(/[_-]/g, " ");
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}
