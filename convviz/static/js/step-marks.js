// Marks the current step on the drawn grids: its result cell, the cells its terms read, the
// results not computed yet, and (scatter route) grad_x as accumulated so far. Which cells
// those are comes from the server's view (term lists and step numbers); this only styles.

import { formatFor } from "./grids.js";

export class StepMarks {
  constructor(linker) {
    this.linker = linker;
    this.reset(null);
  }

  reset(drawn) {
    this.drawn = drawn;
    this.current = null;
    this.inStep = [];
  }

  // current: the result cell of step k (or null while it is not known); pending: whether results
  // after step k are drawn empty (not on the scatter route, which fills grad_x instead).
  show(current, k, { pending }) {
    if (this.current) this.current.classList.remove("current");
    for (const el of this.inStep) el.classList.remove("in-step");
    this.inStep = [];
    this.current = current;
    const { cells, result } = this.drawn;
    if (current) {
      current.classList.add("current");
      for (const id of this.linker.linkedTo(Number(current.dataset.id))) {
        cells[id].classList.add("in-step");
        this.inStep.push(cells[id]);
      }
    }
    if (pending && result.step) {
      for (let pos = 0; pos < result.step.length; pos++) {
        cells[result.offset + pos].classList.toggle("pending", result.step[pos] > k);
      }
    }
  }

  // The scatter route: the drawn slice of `tensor` (grad_x[n, c]) as accumulated after this
  // step (row-major), cells still short of their final value marked as partial.
  showPartial(view, tensor, partial) {
    const drawnGrid = this.drawn.grids.find((d) => d.grid.tensor === tensor);
    const { grid } = drawnGrid;
    const text = formatFor(drawnGrid, [...partial, ...grid.values]); // one format for the grid, that fits
    partial.forEach((v, pos) => {
      const cell = this.drawn.cells[grid.offset + pos];
      cell.textContent = text(v);
      cell.classList.toggle("partial", v !== grid.values[pos]);
    });
  }
}
