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

  // The tensor whose running sums a step carries (`partial`, the scatter route's grad_x so far),
  // or null: such steps come from the paged scatter endpoint, and a variant computes what its
  // base phase computes.
  accumulates(name) {
    const entry = this.get(name);
    return entry && entry.steps_from === "scatter" ? this.base(name).result : null;
  }
}

// The drawn slice ({n, f, c}, some of them) that a step's result cell lies in: entry.select
// names the axis of step.at that gives each.
export function sliceOfStep(entry, at) {
  return Object.fromEntries(Object.entries(entry.select).map(([key, axis]) => [key, at[axis]]));
}
