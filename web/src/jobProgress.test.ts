import { describe, expect, it } from "vitest";
import { jobReducer, outcomeOf, type JobState } from "./views/JobProgress";

const empty: JobState = { steps: [], status: "running", problem: null, transport: "none", lagged: 0 };

// The frames an apply of one step sent over /api/v1/events/sse?job=2 on the simulator.
const frames = [
  { type: "job_started", seq: 3, job: 2, operation: "apply", actor: "op" },
  { type: "step_started", seq: 4, job: 2, step: 0, address: 'vm "web-01" (100 on pve1)', guest: "web-01" },
  { type: "step_progress", seq: 5, job: 2, step: 0, guest: "web-01", message: "update VM 100: memory" },
  { type: "step_progress", seq: 6, job: 2, step: 0, guest: "web-01", message: "TASK OK" },
  { type: "step_finished", seq: 7, job: 2, step: 0, outcome: { outcome: "done", detail: "config updated (1 key)" } },
  { type: "job_finished", seq: 8, job: 2, status: "succeeded", problem: null },
];

describe("apply progress", () => {
  it("follows each step from its frames to the job's final status", () => {
    const states = frames.reduce<JobState[]>((acc, frame) => [...acc, jobReducer(acc[acc.length - 1] ?? empty, { type: "frame", frame })], []);
    expect(states[1].steps).toEqual([
      { step: 0, address: 'vm "web-01" (100 on pve1)', guest: "web-01", status: "running", detail: null, messages: [] },
    ]);
    expect(states[3].steps[0].messages).toEqual(["update VM 100: memory", "TASK OK"]);
    const last = states[states.length - 1];
    expect(last.steps[0]).toMatchObject({ status: "done", detail: "config updated (1 key)" });
    expect(last.status).toBe("succeeded");
  });

  it("fills in steps from the job document when the stream missed them", () => {
    const state = jobReducer(empty, {
      type: "job",
      job: {
        id: 2,
        operation: "apply",
        status: "failed",
        problem: { title: "1 step failed" },
        result: {
          operation: "apply",
          messages: [],
          data: { steps: [{ step: 0, address: "vm x", name: "x", outcome: { outcome: "failed", error: "locked" } }] },
        },
      },
    });
    expect(state.steps).toEqual([{ step: 0, address: "vm x", guest: "x", status: "failed", detail: "locked", messages: [] }]);
    expect(state.status).toBe("failed");
    expect(state.problem?.title).toBe("1 step failed");
  });

  it("reads every outcome shape", () => {
    expect(outcomeOf("already_done")).toEqual({ status: "already_done", detail: null });
    expect(outcomeOf({ outcome: "skipped", because: "step 0 failed" })).toEqual({ status: "skipped", detail: "step 0 failed" });
    expect(outcomeOf(null)).toEqual({ status: "done", detail: null });
  });
});
