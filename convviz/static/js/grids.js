// Draws one view (the server's grids for a phase and slice) into the stage: one element per
// cell carrying data-tensor, data-idx (0-based, full rank), data-id (the view's cell id) and
// data-value (the exact value; the text may be rounded to fit). The arrangement and the
// operators between grids are the phase's layout from the registry; every index comes from the server.

import { fmt } from "./format.js";

const OPERATOR_TITLES = {
  "\u22c6": "cross-correlation: slide the second over the first",
  "\u2192": "becomes",
  "\u21bb 180\u00b0": "rotate 180 degrees (and swap the f, c axes)",
  "\u03a3": "sum over n, i, j",
};

function cellSize(rows, cols) {
  const m = Math.max(rows, cols);
  if (m <= 6) return "xl";
  if (m <= 10) return "l";
  if (m <= 16) return "m";
  if (m <= 24) return "s";
  if (m <= 40) return "xs";
  return "xxs";
}

function drawGrid(grid, cells, byKey) {
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
  const size = cellSize(grid.rows, grid.cols);
  const digits = size === "xl" ? 2 : 1; // what fits in a cell; data-value and the title hold the exact value
  const el = document.createElement("div");
  el.className = `grid size-${size}${labelled ? " labelled" : ""}`;
  el.setAttribute("role", "group");
  el.setAttribute("aria-label", `${grid.title}: ${grid.caption}`);
  el.style.setProperty("--cols", String(grid.cols + (labelled ? 1 : 0)));
  const fragment = document.createDocumentFragment();
  if (labelled) {
    fragment.append(labelCell(""));
    for (let j = 0; j < grid.cols; j++) fragment.append(labelCell(grid.col_labels ? grid.col_labels[j] : ""));
  }
  for (let r = 0; r < grid.rows; r++) {
    if (labelled) fragment.append(labelCell(grid.row_labels ? grid.row_labels[r] : ""));
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
      const v = grid.values[k];
      cell.textContent = fmt(v, digits);
      cell.dataset.value = String(v);
      cell.title = `${grid.tensor}[${grid.idx[k]}] = ${v}${mark ? ` (${markText(mark)})` : ""}`;
      cell.setAttribute("aria-label", cell.title);
      cells[id] = cell;
      byKey.set(`${grid.tensor}|${grid.idx[k]}`, cell);
      fragment.append(cell);
    }
  }
  el.append(fragment);
  box.append(head, el);
  return box;
}

function labelCell(text) {
  const d = document.createElement("div");
  d.className = "label";
  d.textContent = text;
  d.setAttribute("aria-hidden", "true");
  return d;
}

export function markText(mark) {
  return {
    pad: "padding zero, no cell of x",
    unread: "never read by any window",
    margin: "zero padded around grad_out",
    gap: "zero inserted between grad_out values (stride)",
  }[mark] || mark;
}

function operator(text) {
  const op = document.createElement("div");
  op.className = "op";
  op.textContent = text;
  if (OPERATOR_TITLES[text]) op.title = OPERATOR_TITLES[text];
  op.setAttribute("aria-hidden", "true");
  return op;
}

// Draws `view` into `stage` in `layout` order (the registry entry's: grid titles and operators,
// left to right; a nested list stacks its items vertically). Returns the cells by id and by
// "tensor|idx", and the result grid.
export function drawView(stage, view, layout) {
  const cells = new Array(view.grids.reduce((s, g) => s + g.rows * g.cols, 0));
  const byKey = new Map();
  const byTitle = new Map(view.grids.map((g) => [g.title, g]));
  const row = document.createElement("div");
  row.className = "equation-row";
  let pendingOps = [];
  for (const item of layout) {
    let drawnItem;
    if (Array.isArray(item)) {
      drawnItem = document.createElement("div");
      drawnItem.className = "stack";
      for (const sub of item) {
        drawnItem.append(byTitle.has(sub) ? drawGrid(byTitle.get(sub), cells, byKey) : operator(sub));
      }
    } else if (byTitle.has(item)) {
      drawnItem = drawGrid(byTitle.get(item), cells, byKey);
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
  stage.replaceChildren(row);
  const result = view.grids.find((g) => g.role === "result");
  return { cells, byKey, result };
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
