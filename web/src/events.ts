// A job's live events (docs/serve.md "Events"): a WebSocket on /api/v1/events?job=ID, or, when
// the WebSocket cannot be opened, Server-Sent Events on /api/v1/events/sse?job=ID. Both carry the
// same JSON frames; the caller gets them one by one and closes the stream when the job ends.

export interface EventFrame {
  type: string;
  seq?: number;
  job?: number;
  at?: string;
  step?: number;
  address?: string;
  guest?: string;
  message?: string;
  outcome?: unknown;
  status?: string;
  problem?: unknown;
  [key: string]: unknown;
}

export const EVENT_TYPES = [
  "job_started",
  "job_finished",
  "step_started",
  "step_progress",
  "step_finished",
  "lagged",
] as const;

export interface EventStream {
  close(): void;
  /** Which transport carries the frames (shown to the user; useful in tests). */
  readonly transport: () => "websocket" | "sse" | "none";
}

function parseFrame(text: string): EventFrame | null {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && typeof (value as EventFrame).type === "string"
      ? (value as EventFrame)
      : null;
  } catch {
    return null;
  }
}

/**
 * Opens the event stream of one job. Frames seen twice (a reconnect replays the job's events so
 * far) are dropped by `seq`. `onError` is called when neither transport works.
 */
export function openJobEvents(
  job: number,
  onFrame: (frame: EventFrame) => void,
  onError: (message: string) => void,
): EventStream {
  let transport: "websocket" | "sse" | "none" = "none";
  let closed = false;
  let socket: WebSocket | null = null;
  let source: EventSource | null = null;
  let lastSeq = -1;
  const deliver = (text: string) => {
    const frame = parseFrame(text);
    if (!frame) return;
    if (typeof frame.seq === "number") {
      if (frame.seq <= lastSeq) return;
      lastSeq = frame.seq;
    }
    onFrame(frame);
  };

  const startSse = () => {
    if (closed) return;
    if (typeof EventSource === "undefined") {
      onError("this browser has neither a working WebSocket nor EventSource");
      return;
    }
    transport = "sse";
    source = new EventSource(`/api/v1/events/sse?job=${job}`, { withCredentials: true });
    // Frames are named events (`event: step_started`), which onmessage does not see.
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (ev) => deliver((ev as MessageEvent<string>).data));
    }
    source.onmessage = (ev) => deliver(ev.data);
    source.onerror = () => {
      if (closed) return;
      if (source && source.readyState === EventSource.CLOSED) {
        onError("the event stream closed");
      }
    };
  };

  try {
    if (typeof WebSocket === "undefined") throw new Error("no WebSocket");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/api/v1/events?job=${job}`);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      transport = "websocket";
    };
    socket.onmessage = (ev) => {
      if (typeof ev.data === "string") deliver(ev.data);
    };
    socket.onerror = () => {
      // Only a socket that never opened falls back; a later error ends in onclose.
      if (!opened && !closed) {
        socket = null;
        startSse();
      }
    };
    socket.onclose = () => {
      if (!opened && !closed && socket) {
        socket = null;
        startSse();
      }
    };
  } catch {
    startSse();
  }

  return {
    close() {
      closed = true;
      socket?.close();
      source?.close();
    },
    transport: () => transport,
  };
}
