// Where grad_out comes from: one line under the phase's explanation, on the phases that read
// grad_out, saying that grad_out = dL/d out is handed back by the next layer and what it is here
// (the problem's loss: made-up values, L = sum(out), or L = 1/2 sum((out - target)^2) with out and
// target drawn below the grids); and a link to it from the grad_out grid's caption.

const TEXT = {
  none: (p) => `grad_out = dL/d out is what the next layer hands back (the layer after this one, or the loss). `
    + `Here it is made up (${p.values} values, seed ${p.seed}), as if a next layer had sent it; choose a loss in the `
    + "problem panel to make it from out instead.",
  sum: () => "grad_out = dL/d out is what the next layer hands back. Here the loss is L = \u03a3 out, so every "
    + "output moves L by exactly 1: grad_out is all ones.",
  mse: () => "grad_out = dL/d out is what the next layer hands back. Here the loss is L = \u00bd \u03a3 (out \u2212 target)\u00b2, "
    + "so grad_out = out \u2212 target, cell by cell (out and target are drawn below the grids).",
};

export class GradOutOrigin {
  constructor(line) {
    this.line = line;
    line.tabIndex = -1;
  }

  // entry: the phase on screen (its registry entry); problem: the page's problem; stage: the grids.
  show(entry, problem, stage) {
    const reads = entry.tensors.includes("grad_out");
    this.line.hidden = !reads;
    if (!reads) return;
    this.line.textContent = TEXT[problem.loss || "none"](problem);
    this.line.dataset.loss = problem.loss || "none";
    const caption = stage.querySelector('figure[data-title="grad_out"] figcaption');
    if (caption && !caption.querySelector("a.origin-link")) {
      const link = document.createElement("a");
      link.className = "origin-link";
      link.href = "#grad-out-origin";
      link.textContent = "where does it come from?";
      link.addEventListener("click", (e) => {
        e.preventDefault();
        this.line.scrollIntoView({ block: "nearest" });
        this.line.focus();
        this.line.classList.remove("flash");
        void this.line.offsetWidth; // restart the highlight
        this.line.classList.add("flash");
      });
      caption.append(" ", link);
    }
  }
}
