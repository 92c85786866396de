// Draws the hover highlight on one canvas per grid instead of restyling every linked cell:
// hovering a weight of a 32x32 problem links 2,048 cells, and restyling that many elements
// (style, paint and layerizing them all) costs more than a frame, while filling 2,048
// rectangles on a canvas laid over the grid costs well under a millisecond. The canvas
// multiplies its colours onto the cells (mix-blend-mode, convviz.css), so their text shows
// through. Pair numbers (which operand meets which) are drawn as small badges in a corner.

const FILL = "#fbd58a";    // the legend's "linked" swatch
const FRAME = "#8a5a00";
const BADGE = "#ffffff";   // multiplied onto the cell: leaves its colour, so the number stands on it
const INK = "#3d2a00";
const ACTIVE = "#000000";  // the hovered cell's frame
const ACTIVE_FILL = "#fff6cf";

export class LinkLayer {
  constructor() {
    this.drawn = new Set(); // canvases with something on them
  }

  canvasOf(grid) {
    let canvas = grid.querySelector(":scope > canvas.link-layer");
    if (!canvas) {
      canvas = document.createElement("canvas");
      canvas.className = "link-layer";
      canvas.setAttribute("aria-hidden", "true");
      canvas.width = canvas.height = 0; // no default 300x150 box reaching past a small grid
      grid.append(canvas);
    }
    const w = grid.offsetWidth, h = grid.offsetHeight; // the grid's own box (not what overflows it)
    // large grids get one backing pixel per CSS pixel, so a canvas stays a few megabytes
    const scale = Math.min(window.devicePixelRatio || 1, w * h > 4e6 ? 1 : 2);
    if (canvas.dataset.size !== `${w}x${h}x${scale}`) {
      canvas.dataset.size = `${w}x${h}x${scale}`;
      canvas.width = Math.ceil(w * scale);
      canvas.height = Math.ceil(h * scale);
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    return { canvas, ctx };
  }

  // Makes each grid's canvas ahead of the first hover, when the page is idle (a canvas the size
  // of a 32x32 grid costs a few milliseconds to allocate: not in the frame of a hover).
  prepare(grids, cells) {
    // when idle, or within 250 ms even while steps stream in (a user's first hover comes later)
    const idle = window.requestIdleCallback ? (fn) => window.requestIdleCallback(fn, { timeout: 250 })
      : (fn) => setTimeout(fn, 200);
    idle(() => {
      for (const grid of grids) {
        if (!grid.isConnected) continue;
        const { canvas, ctx } = this.canvasOf(grid);
        ctx.fillRect(0, 0, 1, 1); // the bitmap is allocated on the first drawing: now, not at the first hover
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        this.metrics(grid, cells);
      }
    });
  }

  clear() {
    for (const canvas of this.drawn) canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    this.drawn.clear();
  }

  // Where the cells of `grid` sit (reading the layout of three cells, not of every linked one:
  // 2,048 offsetLeft reads cost ~6 ms): origin, size and pitch, cached until the grid resizes.
  metrics(grid, cells) {
    const first = cells[grid.cellOffset];
    const size = `${grid.offsetWidth}x${grid.offsetHeight}`;
    if (grid.linkMetrics && grid.linkMetrics.size === size) return grid.linkMetrics;
    const right = grid.cellCols > 1 ? cells[grid.cellOffset + 1] : null;
    const below = grid.cellCount > grid.cellCols ? cells[grid.cellOffset + grid.cellCols] : null;
    grid.linkMetrics = {
      size, x0: first.offsetLeft, y0: first.offsetTop, w: first.offsetWidth, h: first.offsetHeight,
      dx: right ? right.offsetLeft - first.offsetLeft : 0, dy: below ? below.offsetTop - first.offsetTop : 0,
    };
    return grid.linkMetrics;
  }

  // ids: the linked cells' ids; cells: every drawn cell by id; pairs: Map id -> badge text;
  // active: the hovered / focused cell's id, framed in black (drawn here too, so that a hover
  // restyles no element at all: one restyled cell costs its grid a repaint).
  draw(ids, cells, pairs, active = null) {
    this.clear();
    const byGrid = new Map();
    for (const id of ids) {
      const grid = cells[id].parentElement;
      if (!byGrid.has(grid)) byGrid.set(grid, []);
      byGrid.get(grid).push(id);
    }
    if (active !== null && !byGrid.has(cells[active].parentElement)) byGrid.set(cells[active].parentElement, []);
    for (const [grid, list] of byGrid) {
      const { canvas, ctx } = this.canvasOf(grid);
      const m = this.metrics(grid, cells);
      this.drawn.add(canvas);
      ctx.fillStyle = FILL;
      ctx.strokeStyle = FRAME;
      ctx.lineWidth = 2;
      ctx.beginPath();
      const place = (id) => {
        const k = id - grid.cellOffset;
        return [m.x0 + (k % grid.cellCols) * m.dx, m.y0 + Math.floor(k / grid.cellCols) * m.dy];
      };
      for (const id of list) {
        const [x, y] = place(id);
        ctx.fillRect(x, y, m.w, m.h);
        ctx.rect(x + 1, y + 1, m.w - 2, m.h - 2);
      }
      ctx.stroke();
      if (pairs && pairs.size) {
        for (const id of list) {
          if (pairs.has(id)) badge(ctx, ...place(id), m.h, pairs.get(id));
        }
      }
      if (active !== null && cells[active].parentElement === grid) {
        const [x, y] = place(active);
        ctx.fillStyle = ACTIVE_FILL;
        ctx.fillRect(x, y, m.w, m.h);
        ctx.strokeStyle = ACTIVE;
        ctx.lineWidth = 3;
        ctx.strokeRect(x + 1.5, y + 1.5, m.w - 3, m.h - 3);
      }
    }
  }
}

function badge(ctx, x0, y0, cellHeight, text) {
  const size = Math.max(8, Math.min(11, Math.round(cellHeight * 0.32)));
  ctx.font = `600 ${size}px system-ui, "DejaVu Sans", sans-serif`;
  const w = Math.ceil(ctx.measureText(text).width) + 4;
  const x = x0 + 2, y = y0 + 2;
  ctx.fillStyle = BADGE;
  ctx.fillRect(x, y, w, size + 2);
  ctx.fillStyle = INK;
  ctx.textBaseline = "top";
  ctx.fillText(text, x + 2, y + 1);
}
