// The window moves: a frame around the cells the current step reads in each grid that holds
// a window of them (x_pad's window, grad_out_pad's, a row of cols), which slides to the next
// step's window with a short transition, so stride and dilation read as motion. The frame is
// the box around the step's cells as drawn; the cells themselves come from the server's links.
// Under prefers-reduced-motion the frame jumps (convviz.css turns the transition off).

export class WindowMotion {
  constructor() {
    this.frames = new Map(); // grid element -> frame element
  }

  reset() {
    this.frames = new Map();
  }

  // drawn: drawView's answer; inStep: the cells the current step reads (StepMarks.inStep).
  show(drawn, inStep) {
    const byGrid = new Map();
    for (const cell of inStep) {
      const grid = cell.parentElement;
      if (!byGrid.has(grid)) byGrid.set(grid, []);
      byGrid.get(grid).push(cell);
    }
    for (const d of drawn.grids) {
      const cells = byGrid.get(d.el);
      // a frame only where the step reads part of the grid (not all of w, not a result grid)
      const framed = cells && d.grid.role !== "result" && cells.length < d.cells.length;
      const frame = this.frames.get(d.el);
      if (!framed) { if (frame) frame.hidden = true; continue; }
      let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
      for (const c of cells) {
        left = Math.min(left, c.offsetLeft);
        top = Math.min(top, c.offsetTop);
        right = Math.max(right, c.offsetLeft + c.offsetWidth);
        bottom = Math.max(bottom, c.offsetTop + c.offsetHeight);
      }
      const place = (el) => {
        el.style.transform = `translate(${left - 3}px, ${top - 3}px)`;
        el.style.width = `${right - left + 6}px`;
        el.style.height = `${bottom - top + 6}px`;
      };
      if (!frame) {
        const el = document.createElement("div");
        el.className = "window-frame";
        el.setAttribute("aria-hidden", "true");
        place(el); // the first position: no slide from nowhere
        d.el.append(el);
        this.frames.set(d.el, el);
      } else {
        frame.hidden = false;
        place(frame);
      }
    }
  }
}
