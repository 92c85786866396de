// The formula panel: the current step as an equation in symbols (the tutorial's 1-based names:
// a = out, Da = grad_out, Dx = grad_x, Dw = grad_w, Db = grad_b, w' = w_new) and in numbers,
// the partial sum of each channel (or sample), and for small problems every equation of the
// phase, those that hold the hovered cell marked.

import { fmt, fmtTerm, signed, symbol } from "./format.js";
import { zeroNote } from "./zeros.js";

const MAX_TERMS_SHOWN = 12;

// A setting or a result as a short exact-looking number: 0.01, 2.02 (six significant digits at most).
const short = (v) => signed(String(Number(v.toPrecision(6))));

// Every function below takes the phase's `spec`: its registry entry's `formula` (result symbol;
// the operands of a term as [symbol, index field, value field]; what a missing operand means;
// the partial sums' grouping [term field, axis, label] or null; `bias`, the axis of a step's `at`
// that indexes b; style "scatter" for the scatter route, whose steps spread one value instead
// of summing a window, with `target` the term field naming the cell each product is added to;
// style "update" for the update step, w' = w - lr (Dw + wd w), whose one term is the change).

function el(tag, className, ...children) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  e.append(...children);
  return e;
}

// The real (non-zero-by-construction) terms of a step, and how many were left out.
function realTerms(step, spec) {
  const real = step.terms.filter((t) => spec.ops.every(([, field]) => t[field] !== null));
  return { real, skipped: step.terms.length - real.length };
}

function product(t, spec, compact, numbers) {
  const parts = [];
  spec.ops.forEach(([name, field, valueField], k) => {
    if (k) parts.push("\u00b7");
    parts.push(numbers ? fmtTerm(t[valueField]) : symbol(name, t[field], compact));
  });
  return parts;
}

function sumLine(lead, items, tail) {
  const line = el("div", "line", ...lead);
  items.slice(0, MAX_TERMS_SHOWN).forEach((item, k) => {
    if (k) line.append(" + ");
    line.append(...item);
  });
  if (items.length > MAX_TERMS_SHOWN) line.append(el("span", "more", ` + \u2026 (${items.length - MAX_TERMS_SHOWN} more terms)`));
  line.append(...tail);
  return line;
}

// The note for the terms an equation leaves out: which zeros they multiply, from the view's
// counts for this step (`zeros`, {kind: terms}) when they account for every one of them.
function leftOut(skipped, spec, zeros) {
  const counted = zeros ? Object.values(zeros).reduce((s, n) => s + n, 0) : 0;
  if (counted === skipped) return zeroNote(zeros);
  return `${skipped} more term${skipped > 1 ? "s" : ""} multiply ${spec.zero} and add 0.`;
}

// The update step: w'_k = w_k - lr (Dw_k + wd w_k), in symbols and (with `rates`) in numbers.
function updateEquation(step, spec, compact, { numbers, rates }) {
  const [[wName, wField, wValue], [gName, gField, gValue]] = spec.ops;
  const [t] = step.terms;
  const wrap = el("div", "eq");
  wrap.append(el("div", "line", symbol(spec.result, step.at, compact), " = ", symbol(wName, t[wField], compact),
    " \u2212 lr\u00b7(", symbol(gName, t[gField], compact), " + wd\u00b7", symbol(wName, t[wField], compact), ")"));
  if (numbers && rates) {
    wrap.append(el("div", "line", el("span", "pad-lhs", "= "), `${fmt(t[wValue], 4)} \u2212 ${short(rates.lr)}\u00b7(`
      + `${fmt(t[gValue], 4)} + ${short(rates.weight_decay)}\u00b7${fmtTerm(t[wValue], 4)}) = `, el("strong", "value", short(step.value))));
  }
  return wrap;
}

// The equation of one step: the result as the sum of its terms, in symbols and in numbers.
// zeros: {kind: terms} of this step's left-out terms (the view's count for its result cell).
export function equation(step, spec, compact, { numbers = true, zeros = null, rates = null } = {}) {
  if (spec.style === "update") return updateEquation(step, spec, compact, { numbers, rates });
  const { real, skipped } = realTerms(step, spec);
  const bias = step.bias !== undefined && step.bias !== null;
  const wrap = el("div", "eq");
  const lhs = [symbol(spec.result, step.at, compact), " = "];
  const symItems = real.map((t) => product(t, spec, compact, false));
  const symTail = bias ? [" + ", symbol("b", [step.at[spec.bias]], false)] : [];
  if (!symItems.length) symItems.push(["0"]);
  wrap.append(sumLine(lhs, symItems, symTail));
  if (numbers) {
    const numItems = real.map((t) => product(t, spec, compact, true));
    if (!numItems.length) numItems.push(["0"]);
    const numTail = [...(bias ? [" + ", fmtTerm(step.bias)] : []), " = ", el("strong", "value", fmt(step.value, 4))];
    wrap.append(sumLine([el("span", "pad-lhs", "= ")], numItems, numTail));
    if (skipped) wrap.append(el("div", "hint zero-note", leftOut(skipped, spec, zeros)));
  }
  return wrap;
}

// The cells an equation names ("tensor|i,j,k,l"): its result and every operand written (the
// hovered cell, or the input cell it shows, is looked up here).
export function cellsOf(step, spec, resultTensor) {
  const keys = new Set([`${resultTensor}|${step.at.join(",")}`]);
  const terms = spec.style === "update" ? step.terms : realTerms(step, spec).real;
  for (const t of terms) for (const [, field] of spec.ops) if (t[field]) keys.add(`${field}|${t[field].join(",")}`);
  if (step.bias !== undefined && step.bias !== null) keys.add(`b|${step.at[spec.bias]}`);
  return keys;
}

// grad_x by the scatter route: one grad_out cell spread over its window with w (not rotated).
// Each term names the cell its product lands on in the field spec.target (null on padding).
function scatterEquation(step, spec, compact) {
  const [[aName, aField, aValue], [bName, bField, bValue]] = spec.ops;
  const wrap = el("div", "eq");
  wrap.append(el("div", "line", symbol(aName, step.at, compact), ` = ${fmt(step.value, 4)} is spread over its window with ${bName} (not rotated):`));
  const list = el("ul", "scatter-list");
  for (const t of step.terms.slice(0, MAX_TERMS_SHOWN * 2)) {
    const target = t[spec.target] === null
      ? el("span", "hint", "(padding: cropped)")
      : symbol(spec.result, t[spec.target], compact);
    list.append(el("li", "", target, " += ", symbol(aName, t[aField], compact), "\u00b7", symbol(bName, t[bField], compact),
      ` = ${fmtTerm(t[aValue])}\u00b7${fmtTerm(t[bValue])} = ${fmt(t.product, 4)}`));
  }
  wrap.append(list);
  return wrap;
}

// One chip per channel (or sample) with its terms' sum; `selected`: the chip of the drawn one.
function partials(step, spec, selected) {
  if (!spec.group) return null;
  const [field, axis, label] = spec.group;
  const sums = new Map();
  for (const t of step.terms) {
    const key = t[field][axis];
    sums.set(key, (sums.get(key) || 0) + t.product);
  }
  if (sums.size < 2) return null;
  const box = el("div", "partials-line", el("span", "hint", `One partial sum per ${label}: `));
  [...sums].sort((a, b) => a[0] - b[0]).forEach(([key, sum], k) => {
    if (k) box.append(" + ");
    const chip = el("span", `chip${key === selected ? " selected" : ""}`, `${label.split(" ").pop()}${key + 1}: ${fmt(sum, 3)}`);
    chip.title = `terms of ${label} ${key} (0-based) add up to ${sum}`;
    box.append(chip);
  });
  if (step.bias !== undefined && step.bias !== null) box.append(" + ", el("span", "chip bias", `b: ${fmt(step.bias, 3)}`));
  box.append(" = ", el("strong", "value", fmt(step.value, 4)));
  return box;
}

// The update step's bias line: b'_f = b_f - lr Db_f, with the values drawn in the view (`value`).
function biasUpdate(step, spec, rates, value) {
  const f = [step.at[spec.bias]];
  const [bNew, b, db] = spec.bias_symbols;
  const [vb, vdb, vnew] = ["b", "grad_b", "b_new"].map((t) => value(t, f));
  if (vb === undefined || !rates) return null;
  return el("div", "eq bias-update", el("div", "line", symbol(bNew, f, false), " = ", symbol(b, f, false), " \u2212 lr\u00b7",
    symbol(db, f, false), ` = ${fmt(vb, 4)} \u2212 ${short(rates.lr)}\u00b7${fmtTerm(vdb, 4)} = `,
    el("strong", "value", short(vnew)), el("span", "hint", " (the bias is not decayed)")));
}

export class FormulaPanel {
  constructor({ equationEl, partialsEl, listBox, listEl, onJump }) {
    Object.assign(this, { equationEl, partialsEl, listBox, listEl, onJump });
    this.listKey = null;
  }

  // spec: the phase's registry formula; selected: the drawn channel / sample (its chip is marked);
  // zeros: the view's count of this step's zeros by kind; rates: {lr, weight_decay} of the
  // problem; value(tensor, idx): a value drawn in the view (the update's bias line reads b).
  show(step, { spec, compact, selected, note, zeros = null, rates = null, value = () => undefined }) {
    if (!step) {
      this.equationEl.replaceChildren(el("p", "hint", note || "Loading this step\u2026"));
      this.partialsEl.replaceChildren();
      return;
    }
    const scatter = spec.style === "scatter";
    this.equationEl.replaceChildren(scatter ? scatterEquation(step, spec, compact)
      : equation(step, spec, compact, { zeros, rates }));
    const p = spec.style === "update" ? biasUpdate(step, spec, rates, value) : partials(step, spec, selected);
    this.partialsEl.replaceChildren(...(p ? [p] : []));
  }

  // Every equation of the phase (small problems), the current one marked; not for the scatter
  // route, whose steps are spreads rather than equations. key: the steps' identity (redraws);
  // result: the tensor the steps compute (an equation's cells, for the hover).
  showAll(steps, { spec, compact, current, key, result }) {
    if (!steps || spec.style === "scatter") { this.listBox.hidden = true; this.listKey = null; return; }
    this.listBox.hidden = false;
    if (this.listKey !== key) {
      this.listKey = key;
      this.listEl.replaceChildren(...steps.map((s) => {
        const li = el("li", "", equation(s, spec, compact, { numbers: false }));
        li.append(el("span", "value-tail", ` = ${fmt(s.value, 4)}`));
        li.dataset.step = String(s.index);
        li.cells = cellsOf(s, spec, result);
        li.tabIndex = 0;
        li.title = "show this step";
        li.addEventListener("click", () => this.onJump(s.index));
        li.addEventListener("keydown", (e) => { if (e.key === "Enter") this.onJump(s.index); });
        return li;
      }));
    }
    for (const li of this.listEl.children) li.classList.toggle("current", Number(li.dataset.step) === current);
  }

  // Marks the equations that hold one of `keys` ("tensor|i,j,k,l": the hovered cell and the
  // input cell it shows), or none.
  highlight(keys) {
    for (const li of this.listEl.children) {
      li.classList.toggle("holds-hovered", Boolean(keys && li.cells && keys.some((k) => li.cells.has(k))));
    }
  }
}
