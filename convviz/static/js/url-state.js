// The page's state and its URL form. The query names the problem and the view:
// n, c, h, w, f, kh, kw (shapes), stride, padding, dilation ("2" or "2,1"), values, seed,
// phase, step (0-based step index, as in the API), plus sel (shown sample, kernel, channel:
// "n,f,c"), a variant's toggle (scatter=1: grad_x by the scatter route, written beside
// phase=grad_x as the README documents), edit (typed values: "x@0,0,1,2=5;w@...") and check
// (the Check mode's submitted tensors as JSON, for small problems).
// Which phases exist comes from the registry (phases.js).

const SHAPE_KEYS = [["N", "n"], ["C", "c"], ["H", "h"], ["W", "w"], ["F", "f"], ["KH", "kh"], ["KW", "kw"]];
const PAIR_KEYS = ["stride", "padding", "dilation"];

// A problem body of the API (x_shape, w_shape, ...) -> the page's problem fields.
export function problemFromBody(body) {
  const pair = (v, d) => (v === undefined ? [d, d] : Array.isArray(v) ? [v[0], v[1]] : [v, v]);
  const xs = body.x_shape.length === 2 ? [1, 1, ...body.x_shape] : body.x_shape;
  const ws = body.w_shape.length === 2 ? [1, 1, ...body.w_shape] : body.w_shape;
  return {
    N: xs[0], C: xs[1], H: xs[2], W: xs[3], F: ws[0], KH: ws[2], KW: ws[3],
    stride: pair(body.stride, 1), padding: pair(body.padding, 0), dilation: pair(body.dilation, 1),
    values: body.values || "integers", seed: body.seed ?? 0,
  };
}

// The page's problem fields -> the API body that generates it.
export function bodyFromProblem(p) {
  const pair = ([a, b]) => (a === b ? a : [a, b]);
  return {
    x_shape: [p.N, p.C, p.H, p.W], w_shape: [p.F, p.C, p.KH, p.KW],
    stride: pair(p.stride), padding: pair(p.padding), dilation: pair(p.dilation),
    values: p.values, seed: p.seed,
  };
}

export function parsePair(text) {
  const m = /^\s*(\d+)\s*(?:,\s*(\d+)\s*)?$/.exec(String(text));
  if (!m) return null;
  const a = Number(m[1]);
  return [a, m[2] === undefined ? a : Number(m[2])];
}

export const pairText = ([a, b]) => (a === b ? String(a) : `${a},${b}`);

function parseEdits(text) {
  const edits = new Map();
  for (const item of (text || "").split(";")) {
    const m = /^(x|w|b|grad_out)@([\d,]+)=(-?[\d.eE+-]+)$/.exec(item.trim());
    if (m && Number.isFinite(Number(m[3]))) edits.set(`${m[1]}|${m[2]}`, Number(m[3]));
  }
  return edits;
}

const editsText = (edits) =>
  [...edits].map(([key, v]) => `${key.replace("|", "@")}=${v}`).join(";");

// The phase the query names: phase=NAME (a variant's own name works too), or a variant as its
// base phase plus its toggle flag (phase=grad_x&scatter=1); an unknown name means the
// registry's first, forward.
function phaseFromQuery(q, phases) {
  const named = phases.get(q.get("phase")) || phases.fallback;
  const variant = phases.variants.find((v) => v.variant_of === named.name && q.get(v.toggle) === "1");
  return (variant || named).name;
}

// Reads the URL over a default problem; returns null fields where the URL says nothing.
export function readUrl(search, defaults, phases) {
  const q = new URLSearchParams(search);
  const problem = { ...defaults };
  let given = false;
  for (const [field, key] of SHAPE_KEYS) {
    if (q.has(key)) {
      const v = Number(q.get(key));
      if (Number.isInteger(v)) { problem[field] = v; given = true; }
    }
  }
  for (const key of PAIR_KEYS) {
    const pair = q.has(key) ? parsePair(q.get(key)) : null;
    if (pair) { problem[key] = pair; given = true; }
  }
  if (q.has("values")) { problem.values = q.get("values"); given = true; }
  if (q.has("seed") && Number.isInteger(Number(q.get("seed")))) { problem.seed = Number(q.get("seed")); given = true; }
  const sel = (q.get("sel") || "0,0,0").split(",").map(Number);
  const [n, f, c] = [0, 1, 2].map((i) => (Number.isInteger(sel[i]) && sel[i] >= 0 ? sel[i] : 0));
  const step = Number(q.get("step"));
  return {
    given, problem,
    phase: phaseFromQuery(q, phases),
    step: Number.isInteger(step) && step >= 0 ? step : 0,
    stepGiven: q.has("step"),
    sel: { n, f, c },
    edits: parseEdits(q.get("edit")),
    check: q.get("check"), // the Check mode's submitted tensors (JSON), read by check-mode.js
  };
}

export function writeUrl(state, phases) {
  const p = state.problem;
  const entry = phases.get(state.phase);
  const q = new URLSearchParams();
  for (const [field, key] of SHAPE_KEYS) q.set(key, String(p[field]));
  for (const key of PAIR_KEYS) q.set(key, pairText(p[key]));
  q.set("values", p.values);
  q.set("seed", String(p.seed));
  q.set("phase", entry.variant_of || entry.name);
  q.set("step", String(state.step));
  const { n, f, c } = state.sel;
  if (n || f || c) q.set("sel", `${n},${f},${c}`);
  if (entry.variant_of) q.set(entry.toggle, "1");
  if (state.edits.size) q.set("edit", editsText(state.edits));
  if (state.check) q.set("check", state.check);
  const url = `${location.pathname}?${q}`;
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
}
