// Draws one view (the server's grids for a phase and slice) into the stage: one element per
// cell carrying data-tensor, data-idx (0-based, full rank), data-id (the view's cell id) and
// data-value (the exact value, also in the tooltip with the formulas' 1-based name). The
// arrangement and the operators between grids are the phase's layout from the registry, kept
// on one row: the cells shrink until the row fits the stage (down to a legible size). Tall
// labelled grids (im2col's cols and out) show a window of rows that scrolls. Each grid then
// chooses one number format that fits its cells (cell-text.js). Every index comes from the server.

import { gridFormat } from "./cell-text.js";
import { TWIN_OF } from "./editor.js";
import { signed, subscript } from "./format.js";
import { markText } from "./zeros.js";

export { markText };

const OPERATOR_TITLES = {
  "\u22c6": "cross-correlation: slide the second over the first",
  "\u2192": "becomes",
  "\u2193": "becomes (spread by the stride and padded)",
  "\u21bb 180\u00b0": "rotate 180 degrees (and swap the f, c axes)",
  "\u03a3": "sum over n, i, j",
  "\u2212 lr\u00b7(": "minus the learning rate times (the gradient ...",
  "+ wd\u00b7w) =": "... plus weight_decay times w)",
  "\u2212 lr\u00b7": "minus the learning rate times",
};

// Grids taller than this many rows, with row labels (im2col), show a window of rows that scrolls.
export const WINDOW_ROWS = 16;
// The row of grids fits the stage by shrinking cells down to this size, then scrolls sideways.
const MIN_CELL = 18;
// On a wide stage the cells grow, up to this factor and this size.
const MAX_GROWTH = 1.5;
const MAX_CELL = 44;

// A cell's size (px) from the larger side of its grid, before the row is fitted to the stage.
function cellSize(rows, cols) {
  const m = Math.max(rows, cols);
  return m <= 6 ? 44 : m <= 10 ? 36 : m <= 16 ? 30 : m <= 24 ? 24 : m <= 40 ? 17 : 11;
}
const gapOf = (px) => (px < 14 ? 1 : 2);
const fontOf = (px) => Math.max(8, Math.min(15, Math.round(px * 0.36)));

// A cell's tooltip: its name in the formulas (1-based), its value, and its 0-based index
// (and, for a cell that holds another tensor's cell, that one's): "x12 = 1 (x_pad[0,0,1,2] =
// x[0,0,0,1], 0-based)"; a zero that is no cell of any input says which zero it is.
export function cellTitle(grid, k, compact) {
  const v = grid.values[k];
  const value = signed(String(v));
  const mark = grid.marks ? grid.marks[k] : "";
  const where = `${grid.tensor}[${grid.idx[k]}]`;
  const twin = grid.twin ? grid.twin[k] : undefined;
  const note = mark ? `; ${markText(mark)}` : "";
  if (twin === null || twin === "") return `${value}: ${markText(mark) || "a zero"} (${where}, 0-based)`;
  const named = twin === undefined ? grid.idx[k] : twin;
  const same = twin === undefined ? "" : ` = ${TWIN_OF[grid.tensor] || grid.tensor}[${twin}]`;
  return `${grid.symbol}${subscript(named, compact)} = ${value} (${where}${same}, 0-based${note})`;
}

function drawGrid(grid, cells, byKey, compact) {
  const box = document.createElement("figure");
  box.className = `tensor role-${grid.role}`;
  box.dataset.title = grid.title;
  const head = document.createElement("figcaption");
  const name = document.createElement("strong");
  name.textContent = grid.title;
  const dims = document.createElement("span");
  dims.className = "dims";
  dims.textContent = ` ${grid.rows}\u00d7${grid.cols}`;
  const cap = document.createElement("span");
  cap.className = "caption";
  cap.textContent = grid.caption;
  head.append(name, dims, document.createElement("br"), cap);

  const labelled = Boolean(grid.row_labels || grid.col_labels);
  const windowed = labelled && grid.rows > WINDOW_ROWS;
  const px = cellSize(windowed ? WINDOW_ROWS : grid.rows, grid.cols);
  const el = document.createElement("div");
  el.className = `grid${labelled ? " labelled" : ""}`;
  el.setAttribute("role", "group");
  el.setAttribute("aria-label", `${grid.title}: ${grid.caption}`);
  el.style.setProperty("--cols", String(grid.cols + (labelled ? 1 : 0)));
  Object.assign(el, { cellOffset: grid.offset, cellCols: grid.cols, cellCount: grid.rows * grid.cols }); // link-layer.js
  const fragment = document.createDocumentFragment();
  if (labelled) {
    fragment.append(labelCell("", "corner"));
    for (let j = 0; j < grid.cols; j++) fragment.append(labelCell(grid.col_labels ? grid.col_labels[j] : "", "top"));
  }
  for (let r = 0; r < grid.rows; r++) {
    if (labelled) fragment.append(labelCell(grid.row_labels ? grid.row_labels[r] : "", "side"));
    for (let j = 0; j < grid.cols; j++) {
      const k = r * grid.cols + j;
      const id = grid.offset + k;
      const cell = document.createElement("div");
      cell.className = "cell";
      cell.dataset.tensor = grid.tensor;
      cell.dataset.idx = grid.idx[k];
      cell.dataset.id = String(id);
      cell.dataset.row = String(r);
      cell.dataset.col = String(j);
      cell.tabIndex = k === 0 ? 0 : -1;
      const mark = grid.marks ? grid.marks[k] : "";
      if (mark) cell.classList.add(`mark-${mark}`);
      if (grid.twin) cell.dataset.twin = grid.twin[k] ?? "";
      cell.dataset.value = String(grid.values[k]);
      cell.title = cellTitle(grid, k, compact);
      cell.setAttribute("aria-label", cell.title);
      cells[id] = cell;
      byKey.set(`${grid.tensor}|${grid.idx[k]}`, cell);
      fragment.append(cell);
    }
  }
  el.append(fragment);
  let body = el;
  if (windowed) {
    body = document.createElement("div");
    body.className = "rows-window";
    body.tabIndex = -1;
    const where = document.createElement("p");
    where.className = "rows-position hint";
    box.append(head, body, where);
    body.append(el);
  } else {
    box.append(head, el);
  }
  return { grid, box, el, px, base: px, windowBox: windowed ? body : null };
}

function labelCell(text, where) {
  const d = document.createElement("div");
  d.className = `label label-${where}`;
  d.textContent = text;
  d.setAttribute("aria-hidden", "true");
  return d;
}

function operator(text) {
  const op = document.createElement("div");
  op.className = "op";
  op.textContent = text;
  if (OPERATOR_TITLES[text]) op.title = OPERATOR_TITLES[text];
  op.setAttribute("aria-hidden", "true");
  return op;
}

function setSize(d, px) {
  d.px = px;
  d.el.classList.toggle("narrow", px < 40); // column labels run upwards when wider than a cell
  d.el.style.setProperty("--cell", `${px}px`);
  d.el.style.setProperty("--gap", `${gapOf(px)}px`);
  if (d.windowBox) d.windowBox.style.maxHeight = `${(WINDOW_ROWS + 1) * (px + gapOf(px)) + 4}px`;
}

// Scales the row's cells (each grid's in proportion to its size) so that the row fills the
// stage: down until it is no wider (none below MIN_CELL: a row that still does not fit scrolls
// sideways rather than wrapping, so the operators and the result stay beside the operands), or
// up, on a wide screen, to at most MAX_GROWTH times and MAX_CELL, so the numbers get room.
function fitRow(stage, row, sized) {
  const avail = stage.clientWidth - 4;
  const gaps = () => row.offsetWidth - [...row.children].reduce((s, u) => s + u.offsetWidth, 0);
  for (const d of sized) {
    const caption = d.box.querySelector("figcaption");
    d.floor = caption ? parseFloat(getComputedStyle(caption).minWidth) || 0 : 0; // the caption's least width
    d.extra = d.el.offsetWidth - d.grid.cols * (d.px + gapOf(d.px)); // row labels, if any
  }
  const cellAt = (d, k) => (k >= 1 ? Math.max(d.base, Math.min(MAX_CELL, Math.round(d.base * k)))
    : Math.max(Math.min(MIN_CELL, d.base), Math.round(d.base * k)));
  const widthAt = (d, k) => Math.max(d.floor, d.extra + d.grid.cols * (cellAt(d, k) + gapOf(cellAt(d, k))));
  const units = [...row.children].map((unit) => {
    const grids = sized.filter((d) => unit.contains(d.el));
    const widest = (k) => Math.max(0, ...grids.map((d) => widthAt(d, k)));
    return { fixed: unit.offsetWidth - widest(1), widest };
  });
  const between = gaps();
  const width = (k) => between + units.reduce((s, u) => s + u.fixed + u.widest(k), 0);
  let k = 1;
  if (width(1) <= avail) {
    while (k < MAX_GROWTH && width(k + 0.02) <= avail - 8) k += 0.02;
    if (k === 1) return;
  } else {
    while (k > 0.2 && width(k) > avail) k -= 0.01;
  }
  for (let attempt = 0; attempt < 4; attempt++) {
    for (const d of sized) setSize(d, cellAt(d, k));
    if (row.offsetWidth <= avail || sized.every((d) => d.px <= MIN_CELL)) return;
    k = Math.min(k, 1) - 0.03; // what the estimate missed (a caption that wraps differently): a little smaller
  }
}

// One number format per grid that fits its cells (cell-text.js); the cells' text is set here.
function fitText(d) {
  const format = gridFormat(d.grid.values, { cellPx: d.px, baseFont: fontOf(d.px) });
  d.format = format;
  d.el.style.setProperty("--cell-font", `${format.font}px`);
  const { cells } = d;
  for (let k = 0; k < cells.length; k++) cells[k].textContent = format.text(d.grid.values[k]);
}

// A text function for other values shown in grid `d`'s cells (the scatter route's running
// sums), one format for all of them, fitting the cells.
export function formatFor(d, values) {
  return gridFormat(values, { cellPx: d.px, baseFont: fontOf(d.px) }).text;
}

// Draws `view` into `stage` in `layout` order (the registry entry's: grid titles and operators,
// left to right; a nested list stacks its items vertically); grids of area "origin" (where
// grad_out comes from: out - target) go in a row of their own below. Returns the cells by id
// and by "tensor|idx", the result grid, and each drawn grid ({grid, box, el, px, format, cells}).
export function drawView(stage, view, layout, { compact = false } = {}) {
  const cells = new Array(view.grids.reduce((s, g) => s + g.rows * g.cols, 0));
  const byKey = new Map();
  const byTitle = new Map(view.grids.filter((g) => !g.area).map((g) => [g.title, g]));
  const sized = [];
  const draw = (grid) => {
    const d = drawGrid(grid, cells, byKey, compact);
    d.cells = cells.slice(grid.offset, grid.offset + grid.rows * grid.cols);
    sized.push(d);
    return d.box;
  };
  const row = document.createElement("div");
  row.className = "equation-row";
  let pendingOps = [];
  for (const item of layout) {
    let drawnItem;
    if (Array.isArray(item)) {
      drawnItem = document.createElement("div");
      drawnItem.className = "stack";
      for (const sub of item) drawnItem.append(byTitle.has(sub) ? draw(byTitle.get(sub)) : operator(sub));
      // grids of as many columns (w_mat and b in im2col) line up column for column, right-aligned
      const widths = item.filter((sub) => byTitle.has(sub)).map((sub) => byTitle.get(sub).cols);
      if (widths.length > 1 && widths.every((w) => w === widths[0])) drawnItem.classList.add("aligned");
    } else if (byTitle.has(item)) {
      drawnItem = draw(byTitle.get(item));
    } else {
      pendingOps.push(operator(item));
      continue;
    }
    const unit = document.createElement("div");
    unit.className = "unit";
    unit.append(...pendingOps, drawnItem);
    pendingOps = [];
    row.append(unit);
  }
  const rows = [row];
  const origin = view.grids.filter((g) => g.area === "origin");
  if (origin.length) {
    const below = document.createElement("div");
    below.className = "equation-row origin-row";
    below.id = "origin-row";
    origin.forEach((grid, k) => {
      const unit = document.createElement("div");
      unit.className = "unit";
      if (k) unit.append(operator("\u2212"));
      unit.append(draw(grid));
      below.append(unit);
    });
    const tail = document.createElement("div");
    tail.className = "unit";
    tail.append(operator("="), Object.assign(document.createElement("span"), { className: "origin-tail", textContent: "grad_out (above)" }));
    below.append(tail);
    rows.push(below);
  }
  for (const d of sized) setSize(d, d.px);
  stage.replaceChildren(...rows);
  for (const r of rows) fitRow(stage, r, sized.filter((d) => r.contains(d.el)));
  for (const d of sized) fitText(d);
  const result = view.grids.find((g) => g.role === "result");
  return { cells, byKey, result, grids: sized };
}

// Arrow keys move the focus between the cells of one grid (roving tabindex: one tab stop per grid).
export function enableGridKeys(stage) {
  const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  stage.addEventListener("keydown", (e) => {
    const cell = e.target.closest(".cell");
    if (!cell || !moves[e.key]) return;
    const [dr, dc] = moves[e.key];
    const grid = cell.parentElement;
    const r = Number(cell.dataset.row) + dr;
    const c = Number(cell.dataset.col) + dc;
    const next = grid.querySelector(`.cell[data-row="${r}"][data-col="${c}"]`);
    e.preventDefault();
    if (!next) return;
    cell.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  });
}
