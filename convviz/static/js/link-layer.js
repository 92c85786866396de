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
      grid.append(canvas);
    }
    const w = grid.scrollWidth, h = grid.scrollHeight;
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

  clear() {
    for (const canvas of this.drawn) canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    this.drawn.clear();
  }

  // cells: the linked cell elements; pairs: Map cell -> badge text (may be empty).
  draw(cells, pairs) {
    this.clear();
    const byGrid = new Map();
    for (const cell of cells) {
      const grid = cell.parentElement;
      if (!byGrid.has(grid)) byGrid.set(grid, []);
      byGrid.get(grid).push(cell);
    }
    for (const [grid, list] of byGrid) {
      const { canvas, ctx } = this.canvasOf(grid);
      this.drawn.add(canvas);
      ctx.fillStyle = FILL;
      ctx.strokeStyle = FRAME;
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (const cell of list) {
        const x = cell.offsetLeft, y = cell.offsetTop, w = cell.offsetWidth, h = cell.offsetHeight;
        ctx.fillRect(x, y, w, h);
        ctx.rect(x + 1, y + 1, w - 2, h - 2);
      }
      ctx.stroke();
      for (const cell of list) {
        const text = pairs && pairs.get(cell);
        if (text) badge(ctx, cell, text);
      }
    }
  }
}

function badge(ctx, cell, text) {
  const size = Math.max(8, Math.min(11, Math.round(cell.offsetHeight * 0.32)));
  ctx.font = `600 ${size}px system-ui, "DejaVu Sans", sans-serif`;
  const w = Math.ceil(ctx.measureText(text).width) + 4;
  const x = cell.offsetLeft + 2, y = cell.offsetTop + 2;
  ctx.fillStyle = BADGE;
  ctx.fillRect(x, y, w, size + 2);
  ctx.fillStyle = INK;
  ctx.textBaseline = "top";
  ctx.fillText(text, x + 2, y + 1);
}
