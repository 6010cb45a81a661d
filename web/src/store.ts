// Hand-over between views: the plan the editor's save answered with, shown by the plan review
// without planning again. Kept in memory only (a reload plans afresh).

import type { OperationMessage } from "./api";
import type { PlanData } from "./plan";

export interface HandedPlan {
  plan: PlanData;
  messages: OperationMessage[];
  source: string;
}

let handed: HandedPlan | null = null;

export function handPlan(plan: HandedPlan): void {
  handed = plan;
}

/**
 * The handed plan, once: cleared after the current task, so React's development double render
 * of a state initialiser sees it both times while a later visit to #/plan plans afresh.
 */
export function takePlan(): HandedPlan | null {
  const p = handed;
  if (p) setTimeout(() => {
    if (handed === p) handed = null;
  }, 0);
  return p;
}
