import { act } from "react";
import { createRoot } from "react-dom/client";
import { afterEach, describe, expect, it } from "vitest";
import { extractPlan, planDiff, planSummary, policyResults, type PlanData } from "./plan";
import { PlanDiff } from "./views/PlanReview";

// What POST /api/v1/plan answered on the simulator after `set vm web-01 --memory 4G --tags web,prod,x`.
const plan: PlanData = {
  plan_id: 2,
  plan_hash: "79d07334",
  summary: { add: 1, change: 1, destroy: 1 },
  changes: [
    { action: "noop", resource: "vm", name: "db-01", vmid: 102, node: "pve2", fields: [] },
    {
      action: "update",
      resource: "vm",
      name: "web-01",
      vmid: 100,
      node: "pve1",
      fields: [
        { key: "memory", old: "2048", new: "4096" },
        { key: "tags", old: "prod;web", new: "prod;web;x" },
        { key: "description", old: "old", new: null },
      ],
    },
    { action: "create", resource: "container", name: "ct-new", vmid: null, node: "pve1", fields: [{ key: "memory", old: null, new: "512" }] },
    { action: "delete", resource: "vm", name: "old-vm", vmid: 120, node: "pve3", fields: [] },
  ],
};

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let container: HTMLDivElement | null = null;
afterEach(() => {
  container?.remove();
  container = null;
});

function render(node: React.ReactNode): HTMLDivElement {
  container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  act(() => root.render(node));
  return container;
}

describe("plan diff", () => {
  it("drops no-ops and signs each change and field", () => {
    const diff = planDiff(plan);
    expect(diff.map((d) => [d.sign, d.address])).toEqual([
      ["~", 'vm "web-01" (100 on pve1)'],
      ["+", 'container "ct-new" (on pve1)'],
      ["-", 'vm "old-vm" (120 on pve3)'],
    ]);
    expect(diff[0].lines.map((l) => [l.sign, l.key])).toEqual([
      ["~", "memory"],
      ["~", "tags"],
      ["-", "description"],
    ]);
    expect(diff[1].lines[0].sign).toBe("+");
  });

  it("renders field: old → new for every change", () => {
    const el = render(<PlanDiff entries={planDiff(plan)} />);
    const items = [...el.querySelectorAll("[data-change]")];
    expect(items.map((i) => i.getAttribute("data-change"))).toEqual(["web-01", "ct-new", "old-vm"]);
    const memory = el.querySelector('[data-change="web-01"] [data-plan-field="memory"]');
    expect(memory?.textContent).toBe('~ memory: "2048" → "4096"');
    expect(el.querySelector('[data-change="web-01"] [data-plan-field="description"]')?.textContent).toBe('- description: "old" → (unset)');
    expect(el.querySelector('[data-change="ct-new"] .plan-head')?.textContent).toContain("will be created");
  });

  it("says so when nothing changes", () => {
    const el = render(<PlanDiff entries={planDiff({ changes: [plan.changes![0]] })} />);
    expect(el.querySelector("[data-plan-empty]")?.textContent).toContain("No changes");
  });

  it("uses the server's summary, or counts the changes", () => {
    expect(planSummary(plan)).toEqual({ add: 1, change: 1, destroy: 1 });
    expect(planSummary({ changes: plan.changes })).toEqual({ add: 1, change: 1, destroy: 1 });
  });

  it("finds the plan in an answer and the policy results in its messages", () => {
    expect(extractPlan({ operation: "plan", data: plan, messages: [] })?.plan_id).toBe(2);
    expect(extractPlan([{ x: 1 }, plan])?.plan_id).toBe(2);
    expect(extractPlan({ nothing: true })).toBeNull();
    const results = policyResults([
      { kind: "warning", text: "policy template-not-running (error) would fail on web-01: Templates are never running; /apply refuses this unless --override-policy" },
      { kind: "warning", text: "policies not checked: no files" },
      { kind: "hint", text: "run /apply to make these changes" },
    ]);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ rule: "template-not-running", severity: "error", guest: "web-01" });
  });
});
