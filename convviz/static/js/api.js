// The REST API v1 client: JSON requests with the API's error messages, and the JSON Lines
// trace stream read incrementally (fetch + ReadableStream), one event at a time.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: fall through */ }
  const e = body && body.error;
  return e ? new ApiError(e.status, e.code, e.message)
           : new ApiError(response.status, "http_error", `the server answered ${response.status} ${response.statusText}`);
}

export async function getJSON(path, { signal } = {}) {
  const response = await fetch(path, { signal, headers: { accept: "application/json" } });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export async function postJSON(path, body, { signal } = {}) {
  const response = await fetch(path, {
    method: "POST", signal,
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

// POST /api/v1/trace/{phase}/stream: calls onEvent(event) for each JSON line as it arrives,
// so the caller can draw step k before step k+1 has been computed by the server.
export async function streamTrace(phase, problem, { start = 0, limit = null, signal, onEvent }) {
  const query = new URLSearchParams({ start: String(start) });
  if (limit !== null) query.set("limit", String(limit));
  const response = await fetch(`/api/v1/trace/${phase}/stream?${query}`, {
    method: "POST", signal,
    headers: { "content-type": "application/json", accept: "application/jsonl" },
    body: JSON.stringify(problem),
  });
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let cut;
    while ((cut = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, cut);
      pending = pending.slice(cut + 1);
      if (line) onEvent(JSON.parse(line));
    }
  }
  if (pending.trim()) onEvent(JSON.parse(pending));
}
