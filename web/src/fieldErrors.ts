// Maps a 422 problem's `errors: [{field, message}]` onto the editor's inputs. The server may name
// a nested part (`add-disk.scsi99`, `disks[1].size`); such a message belongs to the top-level field
// (`disks`). Messages for fields the form does not show, and the problem's detail when it has no
// field errors, are returned as `general`.

import type { Problem } from "./api";

export interface MappedErrors {
  byField: Record<string, string[]>;
  general: string[];
}

/** The editable field a server field name belongs to, or null. */
export function fieldFor(name: string, known: readonly string[]): string | null {
  if (known.includes(name)) return name;
  const head = name.split(/[.[/]/, 1)[0];
  return known.includes(head) ? head : null;
}

export function mapFieldErrors(problem: Problem | null | undefined, known: readonly string[]): MappedErrors {
  const byField: Record<string, string[]> = {};
  const general: string[] = [];
  const errors = Array.isArray(problem?.errors) ? problem!.errors : [];
  for (const e of errors) {
    if (!e || typeof e.message !== "string") continue;
    const text = [e.message, e.line ? `(line ${e.line})` : "", e.hint ? `Hint: ${e.hint}` : ""].filter(Boolean).join(" ");
    const target = typeof e.field === "string" ? fieldFor(e.field, known) : null;
    if (target) (byField[target] ??= []).push(text);
    else general.push(typeof e.field === "string" && e.field ? `${e.field}: ${text}` : text);
  }
  if (errors.length === 0 && problem) {
    const text = problem.detail || problem.title;
    if (text) general.push(text);
  }
  return { byField, general };
}
