// The windows of rows of tall grids (im2col's cols and out for a real layer, hundreds of rows):
// each scrolls to keep the current step's row in view, says which rows it shows ("rows 41-56
// of 196"), and the windows whose rows are the same windows of x_pad (cols and out) scroll together.

export class RowWindows {
  constructor() {
    this.windows = [];
  }

  // drawn: drawView's answer; the grids with a windowBox get a window each.
  reset(drawn) {
    this.windows = drawn.grids.filter((d) => d.windowBox).map((d) => ({
      d, box: d.windowBox, where: d.box.querySelector(".rows-position"), rows: d.grid.rows,
    }));
    for (const w of this.windows) {
      w.box.addEventListener("scroll", () => this.scrolled(w), { passive: true });
      this.label(w);
    }
  }

  pitch(w) {
    const first = w.box.querySelector(".cell");
    const next = w.box.querySelector(`.cell[data-row="1"]`);
    return next && first ? next.offsetTop - first.offsetTop : 1;
  }

  // The current step's row in each window: the row of its current or in-step cell there.
  follow() {
    for (const w of this.windows) {
      const cell = w.box.querySelector(".cell.current") || w.box.querySelector(".cell.in-step");
      if (!cell) continue;
      this.scrollTo(w, cell.offsetTop - (w.box.clientHeight - cell.offsetHeight) / 2);
    }
  }

  // A window the reader scrolled: the others with as many rows follow, row for row.
  scrolled(w) {
    if (w.syncing) { w.syncing = false; this.label(w); return; }
    const row = w.box.scrollTop / this.pitch(w);
    for (const other of this.windows) {
      if (other === w || other.rows !== w.rows) continue;
      this.scrollTo(other, row * this.pitch(other));
    }
    this.label(w);
  }

  // Scrolls window w to `top` (px); the scroll event this causes is not the reader's.
  scrollTo(w, top) {
    const target = Math.max(0, Math.min(top, w.box.scrollHeight - w.box.clientHeight));
    if (Math.abs(w.box.scrollTop - target) >= 1) {
      w.syncing = true;
      w.box.scrollTop = target;
    }
    this.label(w);
  }

  label(w) {
    if (!w.where) return;
    const pitch = this.pitch(w);
    const first = Math.min(w.rows, Math.floor(w.box.scrollTop / pitch) + 1);
    const shown = Math.max(1, Math.floor((w.box.clientHeight - pitch) / pitch));
    const last = Math.min(w.rows, first + shown - 1);
    w.where.textContent = `rows ${first}\u2013${last} of ${w.rows.toLocaleString("en")} (scroll for more)`;
  }
}
