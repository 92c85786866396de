// What each phase is called and says: its result tensor, which shown slice (n, f, c) a step's
// result cell belongs to (the names of its axes, MATH.md), and a one-line explanation.

export const RESULT_TENSOR = { forward: "out", im2col: "out", grad_x: "grad_x", scatter: "grad_out", grad_w: "grad_w", grad_b: "grad_b" };

// The axes of a step's `at` that choose the drawn slice.
export function sliceOfStep(phase, scatter, at) {
  if (phase === "grad_x" && scatter) return { n: at[0], f: at[1] };
  switch (phase) {
    case "forward": return { n: at[0], f: at[1] };
    case "im2col": return { n: at[0] };
    case "grad_x": return { n: at[0], c: at[1] };
    case "grad_w": return { f: at[0], c: at[1] };
    case "grad_b": return { f: at[0] };
    default: return {};
  }
}

export const EXPLAIN = {
  forward: "Each output a = one window of x_pad times the kernel w, element by element, summed over every input channel, plus the bias b. The window slides by the stride; dilation spreads its cells apart.",
  grad_x: "Gather route: grad_out is spread by the stride (zeros inserted) and padded into grad_out_pad; each cell of grad_x is one window of it times w_rot, the kernel rotated 180 degrees (f and c swapped).",
  scatter: "Scatter route: each grad_out value is spread back over the window it came from, times the kernel w as it is (no rotation); grad_x accumulates. Both routes give the same numbers.",
  grad_w: "Each cell of grad_w is x_pad correlated with grad_out: the grad_out values times the x_pad cells that weight touched, summed over samples and positions. No rotation.",
  grad_b: "Each bias gradient is the sum of its kernel's grad_out over every sample and position.",
  im2col: "The fast method: every window of x_pad becomes one row of cols; the kernels become the columns of w_mat; one matrix product cols @ w_mat (+ b) gives every output at once.",
};
