// Wires the page: the phase registry and presets from the server -> phase buttons, URL state,
// problem panel, view (grids and links), step source, player and formula panel. Every index and
// every fact about a phase comes from the server; this file only connects.

import { ApiError, getJSON, postJSON } from "./api.js";
import { Multiples } from "./channels.js";
import { CheckMode } from "./check-mode.js";
import { CellEditor, editTarget } from "./editor.js";
import { ExportMenu } from "./export.js";
import { FormulaPanel } from "./formula.js";
import { GradOutOrigin } from "./grad-out-origin.js";
import { drawView, enableGridKeys } from "./grids.js";
import { showLegend } from "./legend.js";
import { Linker } from "./linking.js";
import { LoadingBar } from "./loading.js";
import { PhaseNav } from "./phase-nav.js";
import { PhaseRegistry, keepInGroup, kindOf, sliceOfStep } from "./phases.js";
import { Player } from "./player.js";
import { ProblemBody } from "./problem-body.js";
import { ProblemPanel } from "./problem-panel.js";
import { SlicePanel } from "./slice-panel.js";
import { StepMarks } from "./step-marks.js";
import { RowWindows } from "./row-window.js";
import { PageStatus } from "./status.js";
import { StepSource, stepsKey } from "./step-source.js";
import { bodyFromProblem, linkTo, problemFromBody, readUrl, writeUrl } from "./url-state.js";
import { WindowMotion } from "./window-motion.js";
import { zerosAt } from "./zeros.js";

const $ = (id) => document.getElementById(id);
const stage = $("stage");

// phase: a registry name (grad_x_scatter while grad_x's scatter toggle is on); start() sets it from the URL
const state = { problem: null, phase: null, step: 0, sel: { n: 0, f: 0, c: 0 }, edits: new Map(), allChannels: false };
let phases = null;     // the PhaseRegistry, once fetched
let nav = null;        // the PhaseNav built from it
let view = null;       // the server's view of the phase on screen
let drawn = null;      // {cells, byKey, result}
let source = null;     // StepSource of the phase on screen
let sourceKey = "";
let generation = 0;    // drops answers to superseded requests

// ---- problem body ----------------------------------------------------------------------
const bodies = new ProblemBody(postJSON);
const problemBody = () => bodies.build(bodyFromProblem(state.problem), state.edits);

// ---- errors ------------------------------------------------------------------------------
function showError(message, field = null) {
  status.showError(message, { field });
}

function failed(err) {
  showError(err instanceof ApiError ? err.message : `Could not reach the convviz server: ${err.message}`, panel.lastField);
}

const compact = () => state.problem.N === 1 && state.problem.C === 1 && state.problem.F === 1;

// ---- loading a view ----------------------------------------------------------------------
function clampSel() {
  const p = state.problem;
  state.sel.n = Math.min(state.sel.n, p.N - 1);
  state.sel.f = Math.min(state.sel.f, p.F - 1);
  state.sel.c = Math.min(state.sel.c, p.C - 1);
}

// toSlice: the user chose another slice, so the step moves to the slice's first result cell.
async function load({ toSlice = false } = {}) {
  if (!phases) return; // the first load comes from start(), once the registry is here
  const mine = ++generation;
  clampSel();
  // a transposed problem, or one whose border copies x, has phases of its own (issue 9)
  state.phase = phases.forKind(state.phase, kindOf(state.problem));
  nav.show(state.phase, kindOf(state.problem)); // the buttons of the new problem's kind at once, not when its view arrives
  try {
    const body = await problemBody();
    const entry = phases.get(state.phase);
    const { n, f, c } = state.sel;
    const v = await postJSON(`/api/v1/page/view/${state.phase}?${new URLSearchParams({ n, f, c })}`, body);
    if (mine !== generation) return;
    showError("");
    view = v;
    Object.assign(state.sel, v.select); // with groups the server keeps kernel f in channel c's group
    drawn = drawView(stage, view, entry.layout, { compact: compact() });
    checkMode.run(body).then(() => { if (mine === generation) checkNow(); });
    marks.reset(drawn);
    motion.reset();
    rows.reset(drawn);
    linker.setView(drawn.cells, view.terms);
    const key = stepsKey(body, entry, state.sel);
    if (key !== sourceKey) {
      if (source) source.close();
      sourceKey = key;
      source = new StepSource({
        problem: body, entry, sel: { ...state.sel }, total: view.total, termsPerStep: view.terms_per_step,
        onArrive: (k) => { if (k === state.step || (source.small && source.cache.size === source.total)) renderStep(); },
        onProgress: (p) => loading.show(p),
        onError: (err) => status.showError(`Could not fetch the steps: ${err.message}`, { keep: true }),
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

function sameSlice(entry, step) {
  const want = sliceOfStep(entry, step.at, view && view.group_of);
  return Object.entries(want).every(([k, v]) => state.sel[k] === v);
}

// ---- one step ----------------------------------------------------------------------------
function renderStep() {
  if (!view) return;
  const entry = phases.get(state.phase);
  const k = state.step;
  source.ensure(k);
  const step = source.get(k);
  if (step && !sameSlice(entry, step)) {
    const slice = sliceOfStep(entry, step.at, view.group_of);
    Object.assign(state.sel, slice);
    for (const axis of Object.keys(slice)) keepInGroup(state.sel, axis, view.group_of);
    load();
    return;
  }
  // the result cell of step k: from the step, or (before it arrives) from the view's step numbers
  const result = drawn.result;
  let current = null;
  if (step) current = drawn.byKey.get(`${entry.result}|${step.at.join(",")}`);
  if (!current && result.step) {
    const pos = result.step.indexOf(k);
    if (pos >= 0) current = drawn.cells[result.offset + pos];
  }
  // steps that carry running sums fill their tensor as they go instead of leaving results pending
  const accumulated = phases.accumulates(state.phase);
  marks.show(current, k, { pending: !accumulated });
  if (accumulated && step) marks.showPartial(view, accumulated, step.partial);
  motion.show(drawn, entry.window === false ? [] : marks.inStep); // the fold's copies are no window
  rows.follow();
  const spec = entry.formula;
  const selected = state.sel[spec.selected];
  const { lr, weight_decay } = state.problem;
  formula.show(step, {
    spec, compact: compact(), selected, zeros: zerosAt(drawn.result, current), rates: { lr, weight_decay },
    value: (tensor, idx) => { const c = drawn.byKey.get(`${tensor}|${idx.join(",")}`); return c ? Number(c.dataset.value) : undefined; },
  });
  multiples.show(step, { spec, geometry: view.geometry, on: state.allChannels, selected, byKey: drawn.byKey });
  markOnce("convviz:first-view");
  if (step) markOnce("convviz:first-step");
  const all = source.all();
  const small = all && all.length <= 64 && view.terms_per_step <= 16;
  formula.showAll(small ? all : null, { spec, compact: compact(), current: k, key: sourceKey, result: entry.result });
  writeUrl(state, phases);
}

// Performance marks for benchmarks/bench_page.py, set after the frame that shows them is painted.
const marksDone = new Set();
function markOnce(name) {
  if (marksDone.has(name)) return;
  marksDone.add(name);
  requestAnimationFrame(() => setTimeout(() => performance.mark(name), 0));
}

// ---- what the view on screen is ---------------------------------------------------------------
function describe() {
  nav.show(state.phase, kindOf(state.problem));
  $("phase-explain").textContent = phases.get(state.phase).explain;
  showDual(phases.base(state.phase).result === "out" ? view.dual : null); // on the transposed forward and its scatter
  origin.show(phases.get(state.phase), state.problem, stage);
  showLegend($("legend-list"), view);
  slices.show(view.geometry, state.sel, view.group_of);
  $("notes").textContent = view.notes.join(" ");
  $("clear-edits").hidden = state.edits.size === 0;
}

// A transposed convolution's forward is a convolution's grad_x: the sentence, and a link that
// opens that convolution (with this problem's w and x as its grad_out when they fit in a link).
function showDual(dual) {
  const box = $("dual");
  box.hidden = !dual;
  if (!dual) return;
  const link = document.createElement("a");
  link.href = linkTo(dual.problem, dual.phase, dual.edits, phases);
  link.textContent = "open the conv whose grad_x this is";
  link.id = "dual-link";
  box.replaceChildren(`${dual.text} `, link);
}

// ---- wiring -------------------------------------------------------------------------------
const linker = new Linker(stage, {
  // the equations that hold the hovered cell (or the input cell it shows) are marked in the list
  onActive: (cell) => formula.highlight(cell ? [`${cell.dataset.tensor}|${cell.dataset.idx}`, editTarget(cell)] : null),
});
const loading = new LoadingBar({ box: $("loading"), bar: $("progress"), text: $("loading-text") });
const marks = new StepMarks(linker);
const motion = new WindowMotion();
const rows = new RowWindows();
const origin = new GradOutOrigin($("grad-out-origin"));
const multiples = new Multiples({
  box: $("multiples"), toggle: $("multiples-toggle"),
  onToggle: (on) => { state.allChannels = on; renderStep(); },
});
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
    status.showNotice([]); // the link's notice was about the link's problem
    state.problem = problem;
    state.edits = new Map();
    state.step = 0;
    state.sel = { n: 0, f: 0, c: 0 };
    load();
  },
  onInvalid: (message, field) => showError(message, field),
});
new CellEditor(stage, $("editor"), {
  onCommit: (cell, value) => { state.edits.set(cell, value); panel.markPreset(null); load(); },
  canEdit: (target) => !(target.startsWith("grad_out|") && state.problem.loss !== "none"),
});
$("clear-edits").addEventListener("click", () => { state.edits = new Map(); load(); });
const slices = new SlicePanel({
  selects: { n: $("sel-n"), f: $("sel-f"), c: $("sel-c") }, geometryEl: $("geometry"),
  onChoose: (axis, value) => {
    state.sel[axis] = value;
    keepInGroup(state.sel, axis, view && view.group_of); // a kernel chosen in another group brings the channel
    player.pause();
    load({ toSlice: true });
  },
});
const status = new PageStatus({
  error: $("error"), notice: $("url-notice"), player, form: $("problem-form"),
  stale: [stage, $("formula"), $("notes"), $("grad-out-origin"), document.querySelector("section.select")],
});

// ---- the Check mode ---------------------------------------------------------------------------
let jumpAfterCheck = false; // a new submission: show its first wrong step once judged
function checkNow() {
  checkMode.decorate(drawn.cells);
  state.check = checkMode.urlValue();
  writeUrl(state, phases);
  const r = checkMode.result;
  if (jumpAfterCheck && r) {
    jumpAfterCheck = false;
    const first = Object.values(r.tensors).find((t) => t.first);
    if (first) jumpTo(first.first.phase, first.first.step);
  }
}
function jumpTo(phase, step) {
  player.pause();
  state.phase = phase;
  state.step = step;
  load();
}
const checkMode = new CheckMode({
  box: $("check"), input: $("check-input"), files: $("check-files"), run: $("check-run"), clear: $("check-clear"),
  example: $("check-example"), result: $("check-result"), summary: $("check-summary"),
  diagnosis: $("check-diagnosis"), first: $("check-first"),
}, {
  postJSON,
  onJump: jumpTo,
  onChange: ({ problem, submitted }) => {
    if (problem) {
      state.problem = problemFromBody(problem);
      state.edits = new Map();
      state.sel = { n: 0, f: 0, c: 0 };
      panel.fill(state.problem);
    }
    if (submitted !== undefined) {
      checkMode.submitted = submitted;
      jumpAfterCheck = Boolean(submitted);
    }
    load();
  },
});

function choosePhase(name) {
  state.phase = name;
  player.pause();
  load({ toSlice: true });
}

// the downloads and the code for the view on screen (export.js, code-snippet.js)
new ExportMenu($("export"), {
  current: async () => ({ body: await problemBody(), generated: bodyFromProblem(state.problem), edits: state.edits,
                          phase: state.phase, sel: { ...state.sel }, step: state.step }),
  onError: failed,
});

async function start() {
  try {
    const [presets, entries, examples] = await Promise.all([
      getJSON("/api/v1/presets"), getJSON("/api/v1/phases"), getJSON("/api/v1/check/examples")]);
    checkMode.setExamples(examples);
    phases = new PhaseRegistry(entries);
    nav = new PhaseNav(document.querySelector("nav.phases"), phases, { onChoose: choosePhase });
    panel.setPresets(presets);
    const url = readUrl(location.search, panel.presetProblem("worked"), phases, panel.choices());
    Object.assign(state, { problem: url.problem, phase: url.phase, step: url.step, sel: url.sel, edits: url.edits,
      allChannels: url.allChannels });
    status.showNotice(url.refused);
    checkMode.fromUrl(url.check);
    panel.fill(state.problem);
    if (state.edits.size) panel.markPreset(null);
    // a URL with a step shows that step (the slice follows it); with only a slice, its first step
    await load({ toSlice: !url.stepGiven });
    if (view) noticeClamps(url);
  } catch (err) {
    failed(err);
  }
}

// What a link asked for beyond the problem on screen (a step past the last, a slice beyond N, F
// or C) is shown clamped, and the notice says so.
function noticeClamps(url) {
  if (url.stepGiven && url.step > view.total - 1) {
    status.addNotice({ key: "step", value: url.step, why: `this phase has ${view.total} steps (0 to ${view.total - 1}): showing the last` });
  }
  const g = view.geometry;
  const over = [["n", "N"], ["f", "F"], ["c", "C"]].filter(([k, size]) => url.sel[k] >= g[size]);
  if (over.length) {
    status.addNotice({ key: "sel", value: `${url.sel.n},${url.sel.f},${url.sel.c}`,
      why: over.map(([k, size]) => `${k} must be below ${size} = ${g[size]}`).join("; ") + ": showing the last" });
  }
}

start();
