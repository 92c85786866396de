// Reads the phase registry as GET /api/v1/phases serves it (convviz/trace/phases.py): the page
// knows no phase of its own, so every question about a phase (its button, its result tensor,
// its layout and formula, which drawn slice a step belongs to) is answered from these entries.

export class PhaseRegistry {
  constructor(entries) {
    this.entries = entries;
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  // The entry called `name`, or null.
  get(name) { return this.byName.get(name) || null; }

  // What the page shows when the URL names no known phase: the registry's first (forward).
  get fallback() { return this.entries[0]; }

  // The phases with a button of their own, in registry order.
  get buttons() { return this.entries.filter((e) => !e.variant_of); }

  // The phases shown as a toggle on their base phase's button (grad_x's scatter route).
  get variants() { return this.entries.filter((e) => e.variant_of); }

  // The phase whose button stands for `name`: itself, or its base when it is a variant.
  base(name) {
    const entry = this.get(name);
    return entry && entry.variant_of ? this.get(entry.variant_of) : entry;
  }

  // Whether phase `entry` shows a problem of `kind` (kindOf).
  shows(entry, kind) { return (entry.kinds || ["conv", "conv_mode"]).includes(kind); }

  // The phase to show for a problem of `kind` when `name` was on screen: itself if it shows that
  // kind, else the button with the same title (forward and the transposed forward; grad_x and
  // its first stage grad_x_pad; grad_w ...), else the first button that shows it.
  forKind(name, kind) {
    const entry = this.get(name) || this.fallback;
    if (this.shows(entry, kind)) return entry.name;
    const title = this.base(entry.name).title;
    const same = this.buttons.find((e) => e.title === title && this.shows(e, kind));
    return (same || this.buttons.find((e) => this.shows(e, kind)) || this.fallback).name;
  }

  // The tensor whose running sums a step carries (`partial`, the scatter route's grad_x so far),
  // or null: such steps come from the paged scatter endpoint, and a variant computes what its
  // base phase computes.
  accumulates(name) {
    const entry = this.get(name);
    return entry && entry.steps_from === "scatter" ? this.base(name).result : null;
  }
}

// With groups, kernel f sees only its group's channels: after `axis` (f or c) of the drawn slice
// `sel` changed, the other one moves into its group when it is not there (its group's first).
// groupOf: the view's group_of ([{kernels: [f0, f1], channels: [c0, c1]}], absent without groups).
export function keepInGroup(sel, axis, groupOf) {
  if (!groupOf || (axis !== "f" && axis !== "c")) return;
  const [mine, other] = axis === "f" ? ["kernels", "channels"] : ["channels", "kernels"];
  const group = groupOf.find((g) => sel[axis] >= g[mine][0] && sel[axis] < g[mine][1]);
  const key = axis === "f" ? "c" : "f";
  if (group && (sel[key] < group[other][0] || sel[key] >= group[other][1])) sel[key] = group[other][0];
}

// The kind of a problem (the server's geometry.kind): a convolution with a zero border ("conv"),
// one whose border copies x ("conv_mode": grad_x in two stages, grad_x_pad and the fold), or a
// transposed convolution. Each phase of the registry lists the kinds it shows.
export function kindOf(problem) {
  if (problem.transposed) return "transposed";
  return problem.padding_mode && problem.padding_mode !== "zeros" ? "conv_mode" : "conv";
}

// The drawn slice ({n, f, c}, some of them) that a step's result cell lies in: entry.select
// names the axis of step.at that gives each. With groups (the view's group_of), an axis that
// entry.select_local names holds a place in a group (grad_w's second axis: the channel's place
// among its kernel's channels), counted from the group's first channel (or kernel).
export function sliceOfStep(entry, at, groupOf = null) {
  const slice = Object.fromEntries(Object.entries(entry.select).map(([key, axis]) => [key, at[axis]]));
  for (const [key, owner] of Object.entries(entry.select_local || {})) {
    if (!groupOf || slice[key] === undefined) continue;
    const range = owner === "f" ? "kernels" : "channels";
    const group = groupOf.find((g) => slice[owner] >= g[range][0] && slice[owner] < g[range][1]);
    if (group) slice[key] += group[key === "c" ? "channels" : "kernels"][0];
  }
  return slice;
}
