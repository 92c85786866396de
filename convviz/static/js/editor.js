// Click-to-edit: a cell of x, w, b or grad_out (or of x_pad / grad_out_pad / w_rot / cols,
// which show cells of x, grad_out and w: the server names that cell in data-twin) opens a
// small input; Enter sets the value, Escape cancels. Padding and inserted zeros are not values
// of any input tensor and cannot be edited.

const EDITABLE = new Set(["x", "w", "b", "grad_out"]);
// the input tensor whose cells a drawn tensor shows (data-twin names the cell)
export const TWIN_OF = { x_pad: "x", cols: "x", grad_out_pad: "grad_out", w_rot: "w" };

// "tensor|idx" of the input cell a drawn cell shows, or null.
export function editTarget(cell) {
  const t = cell.dataset.tensor;
  if (EDITABLE.has(t)) return `${t}|${cell.dataset.idx}`;
  if (TWIN_OF[t] && cell.dataset.twin) return `${TWIN_OF[t]}|${cell.dataset.twin}`;
  return null;
}

export class CellEditor {
  // canEdit(target): whether that input cell can take a typed value now (a grad_out that a loss
  // makes cannot).
  constructor(stage, box, { onCommit, canEdit = () => true }) {
    this.canEdit = canEdit;
    this.box = box;
    this.input = box.querySelector("input");
    this.label = box.querySelector("#editor-label");
    this.onCommit = onCommit;
    this.target = null;
    this.cell = null;
    stage.addEventListener("click", (e) => {
      const cell = e.target.closest(".cell");
      if (cell) this.open(cell);
    });
    stage.addEventListener("keydown", (e) => {
      const cell = e.target.closest(".cell");
      if (cell && e.key === "Enter") { e.preventDefault(); this.open(cell); }
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); this.commit(); }
      if (e.key === "Escape") { e.preventDefault(); this.close(); }
    });
    this.input.addEventListener("blur", () => setTimeout(() => this.close(false), 0));
  }

  open(cell) {
    const target = editTarget(cell);
    if (!target || !this.canEdit(target)) return;
    this.target = target;
    this.cell = cell;
    const [tensor, idx] = target.split("|");
    this.label.textContent = `${tensor}[${idx}] =`;
    const rect = cell.getBoundingClientRect();
    this.box.hidden = false;
    this.box.style.left = `${Math.round(rect.left + window.scrollX)}px`;
    this.box.style.top = `${Math.round(rect.bottom + window.scrollY + 4)}px`;
    this.input.value = cell.dataset.value; // the exact value (the cell's text may be rounded)
    this.input.focus();
    this.input.select();
  }

  commit() {
    const v = Number(this.input.value.replace("\u2212", "-"));
    if (this.input.value.trim() === "" || !Number.isFinite(v)) {
      this.input.setCustomValidity("type a number");
      this.input.reportValidity();
      return;
    }
    const target = this.target;
    this.close();
    this.onCommit(target, v);
  }

  close(refocus = true) {
    if (this.box.hidden) return;
    this.box.hidden = true;
    this.input.setCustomValidity("");
    if (refocus && this.cell && this.cell.isConnected) this.cell.focus();
    this.target = null;
  }
}
