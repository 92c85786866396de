// Wires the page: URL state -> problem panel, view (grids and links), step source, player and
// formula panel. Every index the page shows comes from the server; this file only connects.

import { ApiError, getJSON, postJSON } from "./api.js";
import { CellEditor } from "./editor.js";
import { FormulaPanel } from "./formula.js";
import { drawView, enableGridKeys } from "./grids.js";
import { Linker } from "./linking.js";
import { Player } from "./player.js";
import { ProblemBody } from "./problem-body.js";
import { ProblemPanel } from "./problem-panel.js";
import { StepMarks } from "./step-marks.js";
import { StepSource } from "./step-source.js";
import { bodyFromProblem, readUrl, writeUrl } from "./url-state.js";
import { EXPLAIN, RESULT_TENSOR, sliceOfStep } from "./phases.js";

const $ = (id) => document.getElementById(id);
const stage = $("stage");

const state = { problem: null, phase: "forward", step: 0, sel: { n: 0, f: 0, c: 0 }, scatter: false, edits: new Map() };
let view = null;       // the server's view of the phase on screen
let drawn = null;      // {cells, byKey, result}
let source = null;     // StepSource of the phase on screen
let sourceKey = "";
let generation = 0;    // drops answers to superseded requests

// ---- problem body ----------------------------------------------------------------------
const bodies = new ProblemBody(postJSON);
const problemBody = () => bodies.build(bodyFromProblem(state.problem), state.edits);

// ---- errors ------------------------------------------------------------------------------
function showError(message) {
  const box = $("error");
  box.hidden = !message;
  box.textContent = message || "";
  stage.classList.toggle("stale", Boolean(message));
}

function failed(err) {
  showError(err instanceof ApiError ? err.message : `Could not reach the convviz server: ${err.message}`);
}

// ---- loading a view ----------------------------------------------------------------------
function clampSel() {
  const p = state.problem;
  state.sel.n = Math.min(state.sel.n, p.N - 1);
  state.sel.f = Math.min(state.sel.f, p.F - 1);
  state.sel.c = Math.min(state.sel.c, p.C - 1);
}

// toSlice: the user chose another slice, so the step moves to the slice's first result cell.
async function load({ toSlice = false } = {}) {
  const mine = ++generation;
  clampSel();
  try {
    const body = await problemBody();
    const { n, f, c } = state.sel;
    const scatter = state.scatter && state.phase === "grad_x";
    const q = new URLSearchParams({ n, f, c, scatter });
    const v = await postJSON(`/api/v1/page/view/${state.phase}?${q}`, body);
    if (mine !== generation) return;
    showError("");
    view = v;
    drawn = drawView(stage, view);
    marks.reset(drawn);
    linker.setView(drawn.cells, view.terms);
    const tracePhase = scatter ? "scatter" : state.phase === "im2col" ? "forward" : state.phase;
    const key = JSON.stringify([body, tracePhase, scatter ? [n, c] : null]);
    if (key !== sourceKey) {
      if (source) source.close();
      sourceKey = key;
      source = new StepSource({
        problem: body, phase: tracePhase, sel: { n, c }, total: view.total, termsPerStep: view.terms_per_step,
        onArrive: (k) => { if (k === state.step || (source.small && source.cache.size === source.total)) renderStep(); },
        onProgress: progress, onError: failed,
      });
    }
    if (toSlice) state.step = view.first_step;
    player.setTotal(view.total, state.step);
    state.step = player.step;
    describe();
    renderStep();
  } catch (err) {
    if (mine === generation) failed(err);
  }
}

function sameSlice(step) {
  const want = sliceOfStep(state.phase, state.scatter, step.at);
  return Object.entries(want).every(([k, v]) => state.sel[k] === v);
}

function progress({ start, stop, received, done }) {
  const box = $("loading");
  box.hidden = done;
  $("progress").max = stop - start;
  $("progress").value = received;
  $("loading-text").textContent = `steps ${(start + 1).toLocaleString("en")}\u2013${stop.toLocaleString("en")}: ${received.toLocaleString("en")} loaded`;
}

// ---- one step ----------------------------------------------------------------------------
function renderStep() {
  if (!view) return;
  const k = state.step;
  source.ensure(k);
  const step = source.get(k);
  if (step && !sameSlice(step)) {
    Object.assign(state.sel, sliceOfStep(state.phase, state.scatter, step.at));
    load();
    return;
  }
  // the result cell of step k: from the step, or (before it arrives) from the view's step numbers
  const result = drawn.result;
  let current = null;
  if (step) current = drawn.byKey.get(`${RESULT_TENSOR[state.scatter && state.phase === "grad_x" ? "scatter" : state.phase]}|${step.at.join(",")}`);
  if (!current && result.step) {
    const pos = result.step.indexOf(k);
    if (pos >= 0) current = drawn.cells[result.offset + pos];
  }
  const scatter = state.scatter && state.phase === "grad_x";
  marks.show(current, k, { pending: !scatter });
  if (scatter && step) marks.showPartial(view, step.partial);
  const compact = state.problem.N === 1 && state.problem.C === 1 && state.problem.F === 1;
  const selected = state.phase === "grad_x" ? state.sel.f : state.phase === "grad_w" || state.phase === "grad_b" ? state.sel.n : state.sel.c;
  formula.show(step, { phase: state.phase, scatter, compact, selected });
  markOnce("convviz:first-view");
  if (step) markOnce("convviz:first-step");
  const all = source.all();
  const small = all && all.length <= 64 && view.terms_per_step <= 16;
  formula.showAll(small ? all : null, { phase: state.phase, scatter, compact, current: k, key: sourceKey });
  writeUrl(state);
}

// Performance marks for benchmarks/bench_page.py, set after the frame that shows them is painted.
const marksDone = new Set();
function markOnce(name) {
  if (marksDone.has(name)) return;
  marksDone.add(name);
  requestAnimationFrame(() => setTimeout(() => performance.mark(name), 0));
}

// ---- descriptions and selectors -----------------------------------------------------------
function describe() {
  const g = view.geometry;
  for (const btn of document.querySelectorAll("[data-phase]")) btn.setAttribute("aria-pressed", String(btn.dataset.phase === state.phase));
  document.querySelector(".scatter-toggle").hidden = state.phase !== "grad_x";
  $("scatter").checked = state.scatter;
  $("phase-explain").textContent = EXPLAIN[state.scatter && state.phase === "grad_x" ? "scatter" : state.phase];
  fillSelect($("sel-n"), g.N, state.sel.n);
  fillSelect($("sel-f"), g.F, state.sel.f);
  fillSelect($("sel-c"), g.C, state.sel.c);
  const [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  $("geometry").textContent = `x ${g.N}\u00d7${g.C}\u00d7${g.H}\u00d7${g.W}, w ${g.F}\u00d7${g.C}\u00d7${g.KH}\u00d7${g.KW}, `
    + `stride ${sh},${sw}, padding ${ph},${pw}, dilation ${dh},${dw} \u2192 out ${g.N}\u00d7${g.F}\u00d7${g.Ho}\u00d7${g.Wo}; `
    + `x_pad ${g.Hp}\u00d7${g.Wp}, grad_out_pad ${g.Hg}\u00d7${g.Wg}`
    + (g.remainder[0] || g.remainder[1] ? `; ${g.remainder[0]} row(s), ${g.remainder[1]} column(s) of x_pad never read` : "");
  $("notes").textContent = view.notes.join(" ");
  $("clear-edits").hidden = state.edits.size === 0;
}

function fillSelect(select, size, value) {
  if (select.options.length !== size) {
    select.replaceChildren(...Array.from({ length: size }, (_, i) => new Option(String(i), String(i))));
  }
  select.value = String(value);
}

// ---- wiring -------------------------------------------------------------------------------
const linker = new Linker(stage, () => {});
const marks = new StepMarks(linker);
enableGridKeys(stage);
const formula = new FormulaPanel({
  equationEl: $("equation"), partialsEl: $("partials"), listBox: $("all-equations"), listEl: $("equation-list"),
  onJump: (k) => player.go(k),
});
const player = new Player(document, {
  onStep: (k, opts) => {
    if (opts && opts.prefetch !== undefined) { source && source.ensure(opts.prefetch); return; }
    state.step = k;
    renderStep();
  },
  isReady: (k) => Boolean(source && source.get(k)),
});
const panel = new ProblemPanel($("problem-form"), {
  presetSelect: $("preset"), presetDescription: $("preset-description"),
  onChange: (problem) => {
    state.problem = problem;
    state.edits = new Map();
    state.step = 0;
    state.sel = { n: 0, f: 0, c: 0 };
    load();
  },
  onInvalid: (message) => showError(message),
});
new CellEditor(stage, $("editor"), {
  onCommit: (cell, value) => { state.edits.set(cell, value); panel.markPreset(null); load(); },
});
$("clear-edits").addEventListener("click", () => { state.edits = new Map(); load(); });
for (const btn of document.querySelectorAll("[data-phase]")) {
  btn.addEventListener("click", () => {
    if (state.phase === btn.dataset.phase) return;
    state.phase = btn.dataset.phase;
    player.pause();
    load({ toSlice: true });
  });
}
$("scatter").addEventListener("change", () => { state.scatter = $("scatter").checked; load({ toSlice: true }); });
for (const [id, axis] of [["sel-n", "n"], ["sel-f", "f"], ["sel-c", "c"]]) {
  $(id).addEventListener("change", () => { state.sel[axis] = Number($(id).value); player.pause(); load({ toSlice: true }); });
}

async function start() {
  try {
    const presets = await getJSON("/api/v1/presets");
    panel.setPresets(presets);
    const url = readUrl(location.search, panel.presetProblem("worked"));
    Object.assign(state, { problem: url.problem, phase: url.phase, step: url.step, sel: url.sel, scatter: url.scatter, edits: url.edits });
    panel.fill(state.problem);
    if (state.edits.size) panel.markPreset(null);
    // a URL with a step shows that step (the slice follows it); with only a slice, its first step
    await load({ toSlice: !url.stepGiven });
  } catch (err) {
    failed(err);
  }
}

start();
