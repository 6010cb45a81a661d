import { describe, expect, it, vi } from "vitest";
import { ApiClient, ApiError, CSRF_KEY, ENV_KEY, toProblem } from "./api";

function memoryStorage() {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    map: m,
  };
}

function recorder(answers: { status: number; body: unknown }[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch = vi.fn(async (url: string, init?: RequestInit) => {
    calls.push({ url, init: init ?? {} });
    const a = answers.shift() ?? { status: 200, body: {} };
    const text = typeof a.body === "string" ? a.body : JSON.stringify(a.body);
    return new Response(a.status === 204 ? null : text, { status: a.status, statusText: a.status === 401 ? "Unauthorized" : "" });
  });
  return { fetch, calls };
}

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    return e as ApiError;
  }
  throw new Error("expected the request to fail");
}

const header = (init: RequestInit, name: string) => (init.headers as Record<string, string>)[name];

describe("ApiClient", () => {
  it("keeps the CSRF token from login, never the API token, and sends it on every non-GET only", async () => {
    const storage = memoryStorage();
    const { fetch, calls } = recorder([
      { status: 200, body: { csrf_token: "csrf-123" } },
      { status: 200, body: { nodes: [] } },
      { status: 200, body: { operation: "plan", data: {}, messages: [] } },
      { status: 204, body: "" },
    ]);
    const client = new ApiClient({ fetch, storage });
    await client.login("pmpc_secret");
    expect(calls[0].url).toBe("/api/v1/session");
    expect(calls[0].init.method).toBe("POST");
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ token: "pmpc_secret" });
    expect([...storage.map.values()]).toEqual(["csrf-123"]);
    expect(storage.map.get(CSRF_KEY)).toBe("csrf-123");

    await client.get("/overview");
    expect(header(calls[1].init, "X-CSRF-Token")).toBeUndefined();
    await client.post("/plan", {});
    expect(header(calls[2].init, "X-CSRF-Token")).toBe("csrf-123");
    expect(header(calls[2].init, "Content-Type")).toBe("application/json");
    await client.logout();
    expect(calls[3].init.method).toBe("DELETE");
    expect(header(calls[3].init, "X-CSRF-Token")).toBe("csrf-123");
    expect(storage.map.has(CSRF_KEY)).toBe(false);
    for (const c of calls) expect(c.init.credentials).toBe("same-origin");
  });

  it("sends the chosen environment on every request once chosen", async () => {
    const storage = memoryStorage();
    const { fetch, calls } = recorder([
      { status: 200, body: {} },
      { status: 200, body: {} },
    ]);
    const client = new ApiClient({ fetch, storage });
    await client.get("/overview");
    expect(header(calls[0].init, "X-PMPC-Env")).toBeUndefined();
    client.setEnvironment("prod");
    expect(storage.map.get(ENV_KEY)).toBe("prod");
    await client.get("/overview");
    expect(header(calls[1].init, "X-PMPC-Env")).toBe("prod");
  });

  it("turns a problem document into an ApiError and reports 401 to the app", async () => {
    const onUnauthorized = vi.fn();
    const { fetch } = recorder([
      { status: 401, body: { title: "no valid token", detail: "send a token", status: 401 } },
      { status: 422, body: { title: "bad input", errors: [{ field: "memory", message: "not a size" }] } },
    ]);
    const client = new ApiClient({ fetch, storage: memoryStorage(), onUnauthorized });
    const first = await failure(client.get("/overview"));
    expect(first).toBeInstanceOf(ApiError);
    expect(first.status).toBe(401);
    expect(first.problem.title).toBe("no valid token");
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    const second = await failure(client.post("/guests/web-01/definition", { fields: { memory: "lots" } }));
    expect(second.status).toBe(422);
    expect(second.problem.errors).toEqual([{ field: "memory", message: "not a size" }]);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it("ignores a 401 to a request sent before the latest login", async () => {
    const onUnauthorized = vi.fn();
    let release: (r: Response) => void = () => undefined;
    const slow = new Promise<Response>((resolve) => (release = resolve));
    const fetch = vi.fn(async (url: string) =>
      url.endsWith("/whoami") ? slow : new Response(JSON.stringify({ csrf_token: "c" }), { status: 200 }),
    );
    const client = new ApiClient({ fetch, storage: memoryStorage(), onUnauthorized });
    const early = failure(client.get("/whoami"));
    await client.login("pmpc_x");
    release(new Response(JSON.stringify({ title: "no valid token" }), { status: 401 }));
    expect((await early).status).toBe(401);
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it("does not report a refused login as an expired session", async () => {
    const onUnauthorized = vi.fn();
    const { fetch } = recorder([{ status: 401, body: { title: "unknown token" } }]);
    const client = new ApiClient({ fetch, storage: memoryStorage(), onUnauthorized });
    expect((await failure(client.login("pmpc_wrong"))).problem.title).toBe("unknown token");
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it("makes a readable problem out of a non-JSON error body", () => {
    expect(toProblem(502, "Bad Gateway", "<html>upstream down</html>")).toEqual({
      status: 502,
      title: "502 Bad Gateway",
      detail: "<html>upstream down</html>",
    });
    expect(toProblem(500, "", "")).toEqual({ status: 500, title: "500 error", detail: undefined });
  });

  it("waits for a 202 job and returns its result", async () => {
    const { fetch, calls } = recorder([
      { status: 202, body: { job: { id: 7, status: "running", operation: "test" } } },
      { status: 200, body: { job: { id: 7, status: "running" } } },
      { status: 200, body: { job: { id: 7, status: "succeeded", result: { operation: "test", data: { ok: 1 }, messages: [] } } } },
    ]);
    const client = new ApiClient({ fetch, storage: memoryStorage() });
    const waitJob = client.waitJob.bind(client);
    client.waitJob = (id, o) => waitJob(id, { ...o, intervalMs: 1 });
    const answer = await client.runOperation("test", {});
    expect(answer.data).toEqual({ ok: 1 });
    expect(calls.map((c) => c.url)).toEqual(["/api/v1/test", "/api/v1/jobs/7", "/api/v1/jobs/7"]);
  });

  it("throws a failed job's problem", async () => {
    const { fetch } = recorder([
      { status: 202, body: { job: { id: 3, status: "running" } } },
      { status: 200, body: { job: { id: 3, status: "failed", problem: { title: "2 of 355 checks failed", status: 422 } } } },
    ]);
    const client = new ApiClient({ fetch, storage: memoryStorage() });
    const err = await failure(client.runOperation("test"));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.problem.title).toBe("2 of 355 checks failed");
  });
});
