// Hover and keyboard-focus linking: while a cell is hovered or focused, every drawn cell that
// shares a term with it (the cells that feed it, or that it feeds, and the operand it was
// multiplied with) carries data-feeds, and no other cell does; the highlight itself is drawn
// by link-layer.js. When the hovered cell's terms each link two or more other cells, the cells
// of one term carry the same pair number (data-pair), so an output shows which weight the
// hovered input meets there. The term lists are the server's (view.terms); this module only
// inverts them into the terms of each cell.

import { LinkLayer } from "./link-layer.js";

// Pair numbers are drawn while the hovered cell is in at most this many terms (beyond that
// they would be too many to read).
export const MAX_PAIRS = 36;

// For each cell id, the indices of the terms it belongs to.
export function termsByCell(terms, cellCount) {
  const counts = new Int32Array(cellCount + 1);
  for (const term of terms) for (const id of term) counts[id + 1]++;
  for (let i = 1; i <= cellCount; i++) counts[i] += counts[i - 1];
  const start = counts.slice();
  const list = new Int32Array(counts[cellCount]);
  terms.forEach((term, t) => { for (const id of term) list[start[id]++] = t; });
  return { counts, list };
}

export class Linker {
  // onActive(cell or null): the hovered / focused cell changed (the equation list follows it).
  constructor(stage, { onActive } = {}) {
    this.onActive = onActive || (() => {});
    this.layer = new LinkLayer();
    this.cells = [];
    this.terms = [];
    this.index = termsByCell([], 0);
    this.marked = [];
    this.hovered = null;
    this.focused = null;
    this.active = null;
    stage.addEventListener("mouseover", (e) => {
      const cell = e.target.closest(".cell");
      if (cell && cell !== this.hovered) { this.hovered = cell; this.update(); }
    });
    stage.addEventListener("mouseleave", () => { this.hovered = null; this.update(); });
    stage.addEventListener("mouseout", (e) => {
      if (!e.relatedTarget || !e.relatedTarget.closest || !e.relatedTarget.closest(".cell")) {
        this.hovered = null; this.update();
      }
    });
    stage.addEventListener("focusin", (e) => {
      const cell = e.target.closest(".cell");
      this.focused = cell || null;
      this.update();
    });
    stage.addEventListener("focusout", (e) => {
      if (!e.relatedTarget || !stage.contains(e.relatedTarget)) { this.focused = null; this.update(); }
    });
  }

  setView(cells, terms) {
    this.clear();
    this.cells = cells;
    this.terms = terms;
    this.index = termsByCell(terms, cells.length);
    this.hovered = this.focused = this.active = null;
    this.layer.prepare(new Set(cells.map((cell) => cell.parentElement)), cells);
  }

  // The terms (lists of ids, result first) that cell `id` belongs to.
  termsOf(id) {
    const { counts, list } = this.index;
    if (!(id >= 0 && id < this.cells.length)) return [];
    const out = [];
    for (let k = counts[id]; k < counts[id + 1]; k++) out.push(this.terms[list[k]]);
    return out;
  }

  // Every other cell sharing a term with cell `id`.
  linkedTo(id) {
    const seen = new Set();
    for (const term of this.termsOf(id)) for (const other of term) if (other !== id) seen.add(other);
    return seen;
  }

  clear() {
    for (const el of this.marked) { el.removeAttribute("data-feeds"); el.removeAttribute("data-pair"); }
    if (this.active) this.active.removeAttribute("data-active");
    this.marked = [];
    this.layer.clear();
  }

  update() {
    const next = this.hovered && this.hovered.isConnected ? this.hovered
      : this.focused && this.focused.isConnected ? this.focused : null;
    if (next === this.active) return;
    this.clear();
    this.active = next;
    if (next) {
      next.setAttribute("data-active", ""); // (no style reads it: the frame is drawn on the canvas)
      const id = Number(next.dataset.id);
      const terms = this.termsOf(id);
      const paired = terms.length <= MAX_PAIRS && terms.some((t) => t.length > 2);
      const pairs = new Map();
      const linked = new Set();
      let pair = 0;
      for (const term of terms) {
        const number = paired && term.length > 2 ? String(++pair) : "";
        for (const other of term) {
          if (other === id) continue;
          linked.add(other);
          if (number) pairs.set(other, pairs.has(other) ? `${pairs.get(other)},${number}` : number);
        }
      }
      for (const other of linked) {
        const el = this.cells[other];
        el.setAttribute("data-feeds", "");
        if (pairs.has(other)) el.setAttribute("data-pair", pairs.get(other));
        this.marked.push(el);
      }
      this.layer.draw(linked, this.cells, pairs, id);
    }
    this.onActive(next);
  }
}
