// All channels at once: for a step whose sum runs over several input channels (forward), kernels
// (grad_x) or samples (grad_w), one small multiple per group side by side: the group's operands
// as small grids placed as the term fields say (the registry's `multiples`: the window of x_pad
// and the slice of w, for forward), the group's partial sum under it, and the line where the
// partial sums (and b) add up to the step's value. Everything comes from the step's terms.

import { gridFormat } from "./cell-text.js";
import { fmt, fmtTerm } from "./format.js";

const CELL = 26; // px, the small multiples' cells

function el(tag, className, ...children) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  e.append(...children);
  return e;
}

const markOfCell = (cell) => (cell ? [...cell.classList].find((c) => c.startsWith("mark-")) || "" : "");

export class Multiples {
  // box: where the multiples go; toggle: the label holding the checkbox; onToggle(on).
  constructor({ box, toggle, onToggle }) {
    Object.assign(this, { box, toggle });
    this.input = toggle.querySelector("input");
    this.input.addEventListener("change", () => onToggle(this.input.checked));
  }

  hide() {
    this.toggle.hidden = true;
    this.box.hidden = true;
  }

  // step: the current step; spec: the phase's formula; geometry: the view's; on: the option is
  // chosen; selected: the drawn group (its multiple is marked); byKey: the drawn cells, whose
  // marks say which zero a missing operand is.
  show(step, { spec, geometry, on, selected, byKey }) {
    const multiples = spec.multiples;
    if (!step || !multiples || !spec.group) { this.hide(); return; }
    const [field, axis, label] = spec.group;
    const groups = new Map();
    for (const t of step.terms) {
      const key = t[field][axis];
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(t);
    }
    if (groups.size < 2) { this.hide(); return; }
    this.toggle.hidden = false;
    this.input.checked = on;
    this.box.hidden = !on;
    if (!on) return;
    const letter = label.split(" ").pop();
    const [posField, rowAxis, colAxis] = multiples.pos;
    const [rows, cols] = multiples.shape.map((name) => geometry[name]);
    const at = (t) => t[posField][rowAxis] * cols + t[posField][colAxis];
    // which zero a missing operand is: the drawn cell's mark, else (a group not drawn) the mark at
    // the same place in the drawn group, whose zeros sit where every group's do
    const zeroAt = new Map();
    for (const t of groups.get(selected) || []) {
      for (const [, indexField] of multiples.grids) {
        const cell = byKey.get(`${indexField}|${t[indexField]}`);
        if (markOfCell(cell)) zeroAt.set(`${indexField}@${at(t)}`, markOfCell(cell));
      }
    }
    const formats = multiples.grids.map(([, , valueField]) => gridFormat(step.terms.map((t) => t[valueField]),
      { cellPx: CELL, baseFont: 10 }));
    const figures = [];
    const sums = [];
    for (const [key, terms] of [...groups].sort((a, b) => a[0] - b[0])) {
      const sum = terms.reduce((s, t) => s + t.product, 0);
      sums.push([key, sum]);
      const fig = el("figure", `multiple${key === selected ? " selected" : ""}`);
      fig.dataset.group = String(key);
      fig.append(el("figcaption", "", el("strong", "", `${letter}${key + 1}`), ` ${label} = ${key}`));
      const pair = el("div", "multiple-grids");
      multiples.grids.forEach(([title, indexField, valueField, nullField], g) => {
        if (g) pair.append(el("span", "op", "\u00b7"));
        const grid = el("div", "grid mini");
        grid.setAttribute("role", "group");
        grid.setAttribute("aria-label", `${title}, ${label} ${key}`);
        grid.style.setProperty("--cols", String(cols));
        grid.style.setProperty("--cell", `${CELL}px`);
        grid.style.setProperty("--cell-font", `${formats[g].font}px`);
        const slots = Array.from({ length: rows * cols }, () => null);
        for (const t of terms) slots[at(t)] = t;
        slots.forEach((t, pos) => {
          const cell = el("div", "cell");
          if (t) {
            cell.textContent = formats[g].text(t[valueField]);
            cell.dataset.value = String(t[valueField]);
            cell.title = `${indexField}[${t[indexField]}] = ${t[valueField]} (0-based)`;
            if (nullField && t[nullField] === null) cell.classList.add(zeroAt.get(`${indexField}@${pos}`) || "mark-pad");
          } else {
            cell.classList.add("mark-unread");
          }
          grid.append(cell);
        });
        pair.append(grid);
      });
      fig.append(pair, el("div", "multiple-sum", "= ", el("strong", "", fmt(sum, 4))));
      fig.title = `the ${terms.length} terms of ${label} ${key} (0-based) add up to ${sum}`;
      figures.push(fig);
    }
    const bias = step.bias !== undefined && step.bias !== null;
    const total = el("p", "multiples-total", `Sum over ${letter}: `);
    sums.forEach(([key, sum], k) => total.append(k ? " + " : "", `${fmtTerm(sum, 3)}`));
    if (bias) total.append(" + b ", fmtTerm(step.bias, 3));
    total.append(" = ", el("strong", "value", fmt(step.value, 4)), ` (the step's value, from ${groups.size} partial sums)`);
    this.box.replaceChildren(el("div", "multiples-row", ...figures), total);
  }
}
