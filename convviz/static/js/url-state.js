// The page's state and its URL form. The query names the problem and the view:
// n, c, h, w, f, kh, kw (shapes), stride, padding, dilation ("2" or "2,1"), values, seed,
// phase, step (0-based step index, as in the API), plus sel (shown sample, kernel, channel:
// "n,f,c"), a variant's toggle (scatter=1: grad_x by the scatter route, written beside
// phase=grad_x as the README documents), edit (typed values: "x@0,0,1,2=5;w@...") and check
// (the Check mode's submitted tensors as JSON, for small problems).
// lr, weight_decay and loss (the update step and where grad_out comes from) and all=1 (all
// channels at once) appear when not the defaults; so do groups, padding_mode, transposed=1 and
// output_padding (issue 9), and padding may also be four sides "t,b,l,r", "same" or "valid". Which phases exist comes from the registry
// (phases.js). A parameter the page cannot use is left out and reported (readUrl's `refused`),
// never silently dropped.

import { kindOf } from "./phases.js";

const SHAPE_KEYS = [["N", "n"], ["C", "c"], ["H", "h"], ["W", "w"], ["F", "f"], ["KH", "kh"], ["KW", "kw"]];
const PAIR_KEYS = ["stride", "dilation"];

// A problem body of the API (x_shape, w_shape, ...) -> the page's problem fields.
export function problemFromBody(body) {
  const pair = (v, d) => (v === undefined ? [d, d] : Array.isArray(v) ? [v[0], v[1]] : [v, v]);
  const xs = body.x_shape.length === 2 ? [1, 1, ...body.x_shape] : body.x_shape;
  const ws = body.w_shape.length === 2 ? [1, 1, ...body.w_shape] : body.w_shape;
  const groups = body.groups ?? 1;
  const padding = body.padding ?? 0;
  return {
    N: xs[0], C: xs[1], H: xs[2], W: xs[3], F: body.transposed ? ws[1] * groups : ws[0], KH: ws[2], KW: ws[3],
    stride: pair(body.stride, 1),
    padding: typeof padding === "string" ? padding : Array.isArray(padding) && padding.length === 4 ? [...padding] : pair(padding, 0),
    dilation: pair(body.dilation, 1),
    values: body.values || "integers", seed: body.seed ?? 0,
    lr: body.lr ?? DEFAULT_RATES.lr, weight_decay: body.weight_decay ?? DEFAULT_RATES.weight_decay, loss: body.loss || "none",
    ...DEFAULT_LAYER, groups, padding_mode: body.padding_mode || "zeros", transposed: Boolean(body.transposed),
    output_padding: pair(body.output_padding, 0),
  };
}

// The update step's defaults, as the API's (convviz/problem/model.py).
export const DEFAULT_RATES = { lr: 0.01, weight_decay: 0 };
// The layer's settings of issue 9, as the API's defaults: a plain Conv2d.
export const DEFAULT_LAYER = { groups: 1, padding_mode: "zeros", transposed: false, output_padding: [0, 0] };

// The page's problem fields -> the API body that generates it. w is F x C/groups x KH x KW, or for
// a transposed convolution C x F/groups x KH x KW (ConvTranspose2d.weight); the settings of
// issue 9 are sent only when not the defaults (a plain problem's body is as it always was).
export function bodyFromProblem(p) {
  const pair = ([a, b]) => (a === b ? a : [a, b]);
  const groups = p.groups ?? 1;
  const per = (n) => Math.max(1, Math.floor(n / groups)); // a count groups does not divide is refused by the API
  const padding = typeof p.padding === "string" || p.padding.length === 4 ? p.padding : pair(p.padding);
  return {
    x_shape: [p.N, p.C, p.H, p.W], w_shape: p.transposed ? [p.C, per(p.F), p.KH, p.KW] : [p.F, per(p.C), p.KH, p.KW],
    stride: pair(p.stride), padding, dilation: pair(p.dilation),
    values: p.values, seed: p.seed, lr: p.lr, weight_decay: p.weight_decay, loss: p.loss,
    ...layerSettings(p),
  };
}

// groups, padding_mode, transposed and output_padding where not the defaults.
export function layerSettings(p) {
  const out = {};
  if ((p.groups ?? 1) !== 1) out.groups = p.groups;
  if (p.padding_mode && p.padding_mode !== "zeros") out.padding_mode = p.padding_mode;
  if (p.transposed) {
    out.transposed = true;
    const [a, b] = p.output_padding || [0, 0];
    if (a || b) out.output_padding = a === b ? a : [a, b];
  }
  return out;
}

export function parsePair(text) {
  const m = /^\s*(\d+)\s*(?:,\s*(\d+)\s*)?$/.exec(String(text));
  if (!m) return null;
  const a = Number(m[1]);
  return [a, m[2] === undefined ? a : Number(m[2])];
}

export const pairText = ([a, b]) => (a === b ? String(a) : `${a},${b}`);

// padding as the page writes it: "1", "0,1" (rows,cols), "1,0,2,1" (top,bottom,left,right),
// "same" or "valid" -> [ph, pw], [t, b, l, r] or the string; null if it is none of these.
// negative: sides below 0 are crops, allowed in the padding modes that copy x (reflect,
// replicate, circular), as PyTorch's F.pad; the server checks the exact limits.
export function parsePadding(text, { negative = false } = {}) {
  const t = String(text).trim().toLowerCase();
  if (t === "same" || t === "valid") return t;
  const n = negative ? "-?\\d+" : "\\d+";
  const four = new RegExp(`^(${n})\\s*,\\s*(${n})\\s*,\\s*(${n})\\s*,\\s*(${n})$`).exec(t);
  if (four) return four.slice(1).map(Number);
  const two = new RegExp(`^(${n})\\s*(?:,\\s*(${n})\\s*)?$`).exec(t);
  if (!two) return null;
  const a = Number(two[1]);
  return [a, two[2] === undefined ? a : Number(two[2])];
}

export const COPYING_MODES = ["reflect", "replicate", "circular"];

export const paddingText = (p) => (typeof p === "string" ? p : p.length === 4 ? p.join(",") : pairText(p));

function parseEdits(text, refuse) {
  const edits = new Map();
  for (const item of (text || "").split(";")) {
    if (!item.trim()) continue;
    const m = /^(x|w|b|grad_out)@([\d,]+)=(-?[\d.eE+-]+)$/.exec(item.trim());
    if (m && Number.isFinite(Number(m[3]))) edits.set(`${m[1]}|${m[2]}`, Number(m[3]));
    else refuse("edit", item, "an edit is tensor@i,j,k,l=number with tensor x, w, b or grad_out, e.g. x@0,0,1,2=5");
  }
  return edits;
}

const WHOLE = /^\s*\d+\s*$/;
const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

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

// Reads the URL over a default problem. `choices`: the values the panel offers for `values` and
// `loss`. Returns the problem, the view, and `refused`: [{key, value, why}] for each parameter
// the page could not use (it keeps the default for that one and shows the rest).
export function readUrl(search, defaults, phases, choices = {}) {
  const q = new URLSearchParams(search);
  const problem = { ...defaults };
  const refused = [];
  const refuse = (key, value, why) => refused.push({ key, value, why });
  let given = false;
  for (const [field, key] of SHAPE_KEYS) {
    if (!q.has(key)) continue;
    const text = q.get(key);
    if (WHOLE.test(text) && Number(text) >= 1) { problem[field] = Number(text); given = true; }
    else refuse(key, text, `${key} (${field}) must be a whole number >= 1`);
  }
  for (const key of PAIR_KEYS) {
    if (!q.has(key)) continue;
    const text = q.get(key);
    const pair = parsePair(text);
    if (pair && Math.min(...pair) >= 1) { problem[key] = pair; given = true; }
    else refuse(key, text, `${key} must be a whole number >= 1, or two separated by a comma (rows,cols)`);
  }
  if (q.has("padding")) {
    const negative = COPYING_MODES.includes(q.get("padding_mode"));
    const padding = parsePadding(q.get("padding"), { negative });
    if (padding !== null) { problem.padding = padding; given = true; }
    else refuse("padding", q.get("padding"), "padding must be a whole number >= 0, two (rows,cols), four "
      + "(top,bottom,left,right), same or valid" + (negative ? "" : " (negative sides crop only with "
      + "padding_mode reflect, replicate or circular)"));
  }
  if (q.has("groups")) {
    const text = q.get("groups");
    if (WHOLE.test(text) && Number(text) >= 1) { problem.groups = Number(text); given = true; }
    else refuse("groups", text, "groups must be a whole number >= 1");
  }
  if (q.has("transposed")) {
    if (["0", "1"].includes(q.get("transposed"))) { problem.transposed = q.get("transposed") === "1"; given = true; }
    else refuse("transposed", q.get("transposed"), "transposed must be 1 (ConvTranspose2d) or 0");
  }
  if (q.has("output_padding")) {
    const pair = parsePair(q.get("output_padding"));
    if (pair) { problem.output_padding = pair; given = true; }
    else refuse("output_padding", q.get("output_padding"), "output_padding must be a whole number >= 0, or two (rows,cols)");
  }
  for (const key of ["values", "loss", "padding_mode"]) {
    if (!q.has(key)) continue;
    const allowed = choices[key] || [q.get(key)];
    if (allowed.includes(q.get(key))) { problem[key] = q.get(key); given = true; }
    else refuse(key, q.get(key), `${key} must be one of ${allowed.join(", ")}`);
  }
  if (q.has("seed")) {
    const text = q.get("seed");
    if (WHOLE.test(text) && Number(text) <= 2 ** 32 - 1) { problem.seed = Number(text); given = true; }
    else refuse("seed", text, "seed must be a whole number from 0 to 4294967295");
  }
  for (const key of ["lr", "weight_decay"]) {
    if (!q.has(key)) continue;
    const text = q.get(key);
    if (NUMBER.test(text) && Number.isFinite(Number(text)) && Number(text) >= 0) { problem[key] = Number(text); given = true; }
    else refuse(key, text, `${key} must be a number >= 0`);
  }
  let sel = [0, 0, 0];
  if (q.has("sel")) {
    const parts = q.get("sel").split(",");
    if (parts.length === 3 && parts.every((v) => WHOLE.test(v))) sel = parts.map(Number);
    else refuse("sel", q.get("sel"), "sel must be three whole numbers n,f,c (the sample, kernel and channel shown, 0-based)");
  }
  const [n, f, c] = sel;
  let step = 0;
  if (q.has("step")) {
    if (WHOLE.test(q.get("step"))) step = Number(q.get("step"));
    else refuse("step", q.get("step"), "step must be a whole number >= 0 (0-based)");
  }
  if (q.has("phase") && !phases.get(q.get("phase"))) {
    const kind = kindOf(problem); // the phases that show this problem (issue 9: each kind has its own)
    refuse("phase", q.get("phase"),
      `phase must be one of ${phases.entries.filter((e) => phases.shows(e, kind)).map((e) => e.name).join(", ")}`);
  }
  for (const key of ["all", ...phases.variants.map((v) => v.toggle)]) {
    if (q.has(key) && !["0", "1"].includes(q.get(key))) refuse(key, q.get(key), `${key} must be 1 (on) or 0 (off)`);
  }
  return {
    given, problem, refused,
    phase: phaseFromQuery(q, phases),
    step,
    stepGiven: q.has("step") && WHOLE.test(q.get("step")),
    sel: { n, f, c },
    allChannels: q.get("all") === "1",
    edits: parseEdits(q.get("edit"), refuse),
    check: q.get("check"), // the Check mode's submitted tensors (JSON), read by check-mode.js
  };
}

export function writeUrl(state, phases) {
  const url = `${location.pathname}?${queryOf(state, phases)}`;
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
}

// The page's link to another problem: a problem body of the API, a phase and typed cells (an
// edit string as the URL's edit=), e.g. the convolution whose grad_x a transposed one's forward is.
export function linkTo(body, phase, edit, phases) {
  const edits = new Map();
  if (edit) for (const item of edit.split(";")) { const [cell, v] = item.split("="); edits.set(cell.replace("@", "|"), Number(v)); }
  return `${location.pathname}?${queryOf({ problem: problemFromBody(body), phase, step: 0, sel: { n: 0, f: 0, c: 0 },
    edits, allChannels: false }, phases)}`;
}

function queryOf(state, phases) {
  const p = state.problem;
  const entry = phases.get(state.phase);
  const q = new URLSearchParams();
  for (const [field, key] of SHAPE_KEYS) q.set(key, String(p[field]));
  q.set("stride", pairText(p.stride));
  q.set("padding", paddingText(p.padding));
  q.set("dilation", pairText(p.dilation));
  const layer = layerSettings(p);
  if (layer.groups) q.set("groups", String(layer.groups));
  if (layer.padding_mode) q.set("padding_mode", layer.padding_mode);
  if (layer.transposed) q.set("transposed", "1");
  if (layer.output_padding !== undefined) q.set("output_padding", pairText(p.output_padding));
  q.set("values", p.values);
  q.set("seed", String(p.seed));
  if (p.loss && p.loss !== "none") q.set("loss", p.loss);
  for (const key of ["lr", "weight_decay"]) if (p[key] !== DEFAULT_RATES[key]) q.set(key, String(p[key]));
  q.set("phase", entry.variant_of || entry.name);
  q.set("step", String(state.step));
  const { n, f, c } = state.sel;
  if (n || f || c) q.set("sel", `${n},${f},${c}`);
  if (entry.variant_of) q.set(entry.toggle, "1");
  if (state.edits.size) q.set("edit", editsText(state.edits));
  if (state.allChannels) q.set("all", "1");
  if (state.check) q.set("check", state.check);
  return q;
}
