// Hover and keyboard-focus linking: while a cell is hovered or focused, every drawn cell that
// shares a term with it (the cells that feed it, or that it feeds, and the operand it was
// multiplied with) carries data-feeds, and no other cell does. The term lists are the
// server's (view.terms); this module only inverts them into a neighbour list per cell.

export function neighbourLists(terms, cellCount) {
  const lists = Array.from({ length: cellCount }, () => []);
  for (const term of terms) {
    for (const a of term) {
      const list = lists[a];
      for (const b of term) if (b !== a) list.push(b);
    }
  }
  return lists.map((list) => Int32Array.from(new Set(list)));
}

export class Linker {
  constructor(stage) {
    this.cells = [];
    this.neighbours = [];
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
    this.neighbours = neighbourLists(terms, cells.length);
    this.hovered = this.focused = this.active = null;
  }

  linkedTo(id) {
    return this.neighbours[id] || new Int32Array(0);
  }

  clear() {
    for (const el of this.marked) el.removeAttribute("data-feeds");
    if (this.active) this.active.classList.remove("active");
    this.marked = [];
  }

  update() {
    const next = this.hovered && this.hovered.isConnected ? this.hovered
      : this.focused && this.focused.isConnected ? this.focused : null;
    if (next === this.active) return;
    this.clear();
    this.active = next;
    if (next) {
      next.classList.add("active");
      for (const id of this.linkedTo(Number(next.dataset.id))) {
        const el = this.cells[id];
        el.setAttribute("data-feeds", "");
        this.marked.push(el);
      }
    }
  }
}
