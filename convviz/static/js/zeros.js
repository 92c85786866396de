// The words for the zeros a view draws, one kind each, so the tooltip, the legend and the
// formula's note name the same zeros: the padding of x (x_pad's ring), the padding of grad_out
// (grad_out_pad's margin) and the zeros the stride inserts between grad_out values. Which cell
// is which kind comes from the server (a grid's marks; a result grid's zero counts per step).

const KINDS = {
  pad: {
    mark: "padding of x: a zero of x_pad's ring, no cell of x",
    legend: "padding zero of x (x_pad's ring, no cell of x)",
    one: "a padding zero of x", many: "padding zeros of x",
  },
  margin: {
    mark: "padding of grad_out: a zero of grad_out_pad's margin, no cell of grad_out",
    legend: "padding zero of grad_out (grad_out_pad's margin)",
    one: "a padding zero of grad_out", many: "padding zeros of grad_out",
  },
  gap: {
    mark: "a zero the stride inserts between grad_out values, no cell of grad_out",
    legend: "zero inserted by the stride between grad_out values",
    one: "a zero inserted by the stride", many: "zeros inserted by the stride",
  },
  unread: { mark: "never read by any window", legend: "never read by any window" },
  // issue 9: the border of a padding mode, w_mat's zeros between groups, a transposed convolution's x_pad
  copy: {
    mark: "a copy of a cell of x on the border (padding mode): its gradient goes back to that cell in the fold",
    legend: "border cell copying a cell of x (reflect, replicate, circular)",
  },
  group: {
    mark: "a zero of w_mat: this channel is in another group than this kernel's",
    legend: "zero of w_mat outside the kernel's group (one block per group)",
    one: "a channel of another group", many: "channels of other groups",
  },
  xmargin: {
    mark: "padding of the spread x: a zero around it in x_pad, no cell of x",
    legend: "zero around the spread x (dilation*(K-1) - padding, output_padding at the bottom / right)",
    one: "a zero around the spread x", many: "zeros around the spread x",
  },
  xgap: {
    mark: "a zero the stride inserts between x values, no cell of x",
    legend: "zero inserted by the stride between x values",
    one: "a zero inserted between x values", many: "zeros inserted between x values",
  },
};

// The order the legend lists them in.
export const ZERO_KINDS = ["pad", "margin", "gap", "xmargin", "xgap", "copy", "group", "unread"];

export function markText(mark) {
  return KINDS[mark] ? KINDS[mark].mark : mark;
}

export function legendText(mark) {
  return KINDS[mark] ? KINDS[mark].legend : mark;
}

// The note under an equation for the terms it leaves out: `counts` {kind: terms} of the step.
// "3 more terms multiply padding zeros of x and add 0." / "4 more terms add 0: 3 multiply
// padding zeros of grad_out, 1 multiplies a zero inserted by the stride."
export function zeroNote(counts) {
  const kinds = ZERO_KINDS.filter((k) => counts[k] > 0 && KINDS[k].many);
  const total = kinds.reduce((s, k) => s + counts[k], 0);
  if (!total) return "";
  const terms = (n) => `${n} more term${n > 1 ? "s" : ""}`;
  const what = (k) => (counts[k] > 1 ? KINDS[k].many : KINDS[k].one);
  if (kinds.length === 1) {
    const [k] = kinds;
    return `${terms(total)} multipl${total > 1 ? "y" : "ies"} ${what(k)} and add${total > 1 ? "" : "s"} 0.`;
  }
  const parts = kinds.map((k) => `${counts[k]} multipl${counts[k] > 1 ? "y" : "ies"} ${what(k)}`);
  return `${terms(total)} add 0: ${parts.join(", ")}.`;
}

// {kind: terms} of the step that computes `cell` of the result grid (the view's zero counts), or null.
export function zerosAt(resultGrid, cell) {
  if (!resultGrid || !resultGrid.zeros || !cell) return null;
  const pos = Number(cell.dataset.id) - resultGrid.offset;
  if (!(pos >= 0 && pos < resultGrid.rows * resultGrid.cols)) return null;
  return Object.fromEntries(Object.entries(resultGrid.zeros).map(([kind, counts]) => [kind, counts[pos]]));
}
