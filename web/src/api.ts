// The client for proxmox-mpc's REST API (docs/serve.md): every request the dashboard makes goes
// through ApiClient, which adds the CSRF token to non-GET requests, the chosen environment
// header, and turns every non-2xx answer into an ApiError carrying the RFC 9457 problem document.
// The API token itself is only ever sent once, to POST /session; it is never stored.

export interface FieldError {
  field: string;
  message: string;
  hint?: string | null;
  line?: number | null;
}

/** An RFC 9457 problem document as the server sends it (all fields optional on the wire). */
export interface Problem {
  type?: string;
  title?: string;
  detail?: string;
  hint?: string;
  hints?: string[];
  status?: number;
  errors?: FieldError[];
  [key: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(problem.title || problem.detail || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
}

/** What an operation route answers: `{"operation", "data", "messages"}`. */
export interface OperationMessage {
  kind: string;
  text: string;
}
export interface OperationAnswer<T = unknown> {
  operation: string;
  data: T;
  messages: OperationMessage[];
}

export interface Job {
  id: number;
  operation: string;
  status: "running" | "succeeded" | "failed" | "cancelled" | string;
  result: OperationAnswer | null;
  problem: Problem | null;
  actor?: string;
  created_at?: string;
  finished_at?: string | null;
}

/**
 * The `data` of an operation's answer (`{"operation", "data", "messages"}`); a route that answers
 * its own document (`/whoami`) is returned as it is.
 */
export function unwrap<T>(answer: unknown): T {
  if (answer && typeof answer === "object" && "operation" in answer && "data" in answer) {
    return (answer as OperationAnswer<T>).data;
  }
  return answer as T;
}

export const CSRF_KEY = "pmpc.csrf";
export const ENV_KEY = "pmpc.env";
export const API_BASE = "/api/v1";

type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export interface ApiClientOptions {
  fetch?: FetchFn;
  /** Where the CSRF token and the chosen environment live (sessionStorage in the browser). */
  storage?: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  /** Called on every 401, before the ApiError is thrown (the app shows the login view). */
  onUnauthorized?: () => void;
}

/** Makes a problem document out of any answer body, JSON or not. */
export function toProblem(status: number, statusText: string, body: string): Problem {
  if (body) {
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
        const p = parsed as Problem;
        if (p.title || p.detail) return { status, ...p };
      }
    } catch {
      // Not JSON: fall through and show the text itself.
    }
  }
  const text = body.trim().slice(0, 500);
  return {
    status,
    title: `${status} ${statusText || "error"}`.trim(),
    detail: text || undefined,
  };
}

export class ApiClient {
  private readonly fetchFn: FetchFn;
  private readonly storage: ApiClientOptions["storage"];
  /** Counts logins: a 401 to a request sent before the latest login says nothing about now. */
  private session = 0;
  onUnauthorized?: () => void;

  constructor(options: ApiClientOptions = {}) {
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.storage = options.storage ?? (typeof sessionStorage !== "undefined" ? sessionStorage : undefined);
    this.onUnauthorized = options.onUnauthorized;
  }

  csrfToken(): string | null {
    return this.storage?.getItem(CSRF_KEY) ?? null;
  }

  environment(): string | null {
    return this.storage?.getItem(ENV_KEY) ?? null;
  }

  setEnvironment(name: string | null): void {
    if (name) this.storage?.setItem(ENV_KEY, name);
    else this.storage?.removeItem(ENV_KEY);
  }

  /** Sends one request; `path` is below /api/v1 (`/overview`) or absolute (`/api/...`). */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = path.startsWith("/api/") ? path : `${API_BASE}${path}`;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && method !== "HEAD") {
      const csrf = this.csrfToken();
      if (csrf) headers["X-CSRF-Token"] = csrf;
    }
    const env = this.environment();
    if (env) headers["X-PMPC-Env"] = env;
    const session = this.session;
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (err) {
      throw new ApiError(0, {
        title: "The server did not answer",
        detail: err instanceof Error ? err.message : String(err),
        hint: "check that proxmox-mpc serve is still running, then try again",
      });
    }
    const text = await response.text();
    if (!response.ok) {
      const problem = toProblem(response.status, response.statusText, text);
      if (response.status === 401 && session === this.session && !url.endsWith("/session")) this.onUnauthorized?.();
      throw new ApiError(response.status, problem);
    }
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(response.status, {
        title: "The server's answer is not JSON",
        detail: text.slice(0, 500),
      });
    }
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  /** Exchanges an API token for a session cookie; keeps only the CSRF token. */
  async login(token: string): Promise<void> {
    const answer = await this.request<{ csrf_token: string }>("POST", "/session", { token });
    if (!answer || typeof answer.csrf_token !== "string") {
      throw new ApiError(200, { title: "The server did not return a CSRF token" });
    }
    this.storage?.setItem(CSRF_KEY, answer.csrf_token);
    this.session += 1;
  }

  async logout(): Promise<void> {
    try {
      await this.request<unknown>("DELETE", "/session");
    } finally {
      this.storage?.removeItem(CSRF_KEY);
    }
  }

  /** Polls GET /jobs/ID until the job is no longer running (bounded by `timeoutMs`). */
  async waitJob(id: number, options: { intervalMs?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Job> {
    const interval = options.intervalMs ?? 500;
    const deadline = Date.now() + (options.timeoutMs ?? 15 * 60 * 1000);
    for (;;) {
      const { job } = await this.get<{ job: Job }>(`/jobs/${id}`);
      if (job.status !== "running") return job;
      if (options.signal?.aborted) return job;
      if (Date.now() > deadline) {
        throw new ApiError(0, {
          title: `Job ${id} is still running`,
          detail: `gave up waiting after ${Math.round((options.timeoutMs ?? 0) / 1000)} s`,
          hint: `GET /api/v1/jobs/${id} shows it when it ends`,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  /**
   * Runs an operation that may answer 202 with a job: waits for the job and returns its result,
   * or throws its problem.
   */
  async runOperation<T>(name: string, body: unknown = {}): Promise<OperationAnswer<T>> {
    const answer = await this.post<OperationAnswer<T> | { job: Job }>(`/${name}`, body);
    if (answer && typeof answer === "object" && "job" in answer) {
      const job = await this.waitJob(answer.job.id);
      if (job.status === "succeeded" && job.result) return job.result as OperationAnswer<T>;
      throw new ApiError(job.problem?.status ?? 500, job.problem ?? { title: `${name} ${job.status}` });
    }
    return answer as OperationAnswer<T>;
  }
}

export const api = new ApiClient();
