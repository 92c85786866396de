// The problem panel: shapes, stride / padding / dilation per axis, groups, the padding mode, a
// transposed convolution and its output_padding, value kind, seed, where grad_out comes from
// (the loss), the update step's lr and weight decay, and the presets. Reads and fills the form;
// reports a changed problem (or what is wrong with a field, and which).

import { appendNamedOptions } from "./named-options.js";
import { COPYING_MODES, pairText, paddingText, parsePadding, parsePair, problemFromBody } from "./url-state.js";

const INT_FIELDS = ["N", "C", "H", "W", "F", "KH", "KW", "seed", "groups"];
const PAIR_FIELDS = ["stride", "dilation", "output_padding"];
const RATE_FIELDS = ["lr", "weight_decay"];
const CHOICE_FIELDS = ["values", "loss", "padding_mode"];

export class ProblemPanel {
  constructor(form, { presetSelect, presetDescription, onChange, onInvalid }) {
    Object.assign(this, { form, presetSelect, presetDescription, onChange, onInvalid });
    this.presets = [];
    this.lastField = null; // the field the user changed last: what to change when the problem is refused
    form.addEventListener("change", (e) => {
      if (e.target === presetSelect) this.choosePreset(presetSelect.value);
      else { this.lastField = e.target.name || null; this.submit(); }
    });
    form.addEventListener("submit", (e) => { e.preventDefault(); this.submit(); });
  }

  setPresets(presets) {
    this.presets = presets;
    appendNamedOptions(this.presetSelect, presets);
  }

  // The values the panel offers for each choice field (values, loss): what a URL may ask for.
  choices() {
    return Object.fromEntries(CHOICE_FIELDS.map((k) => [k, [...this.form.elements[k].options].map((o) => o.value)]));
  }

  presetProblem(name) {
    const p = this.presets.find((q) => q.name === name);
    return p ? problemFromBody(p.problem) : null;
  }

  choosePreset(name) {
    const problem = this.presetProblem(name);
    if (!problem) { this.markPreset(null); return; }
    this.fill(problem);
    this.onChange(problem, { preset: name });
  }

  // Shows the preset a problem equals, if any.
  markPreset(problem) {
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const match = problem && this.presets.find((p) => same(problemFromBody(p.problem), problem));
    this.presetSelect.value = match ? match.name : "";
    this.presetDescription.textContent = match ? match.description : "";
  }

  fill(problem) {
    const f = this.form.elements;
    for (const k of INT_FIELDS) f[k].value = String(problem[k]);
    for (const k of PAIR_FIELDS) f[k].value = pairText(problem[k]);
    f.padding.value = paddingText(problem.padding);
    for (const k of RATE_FIELDS) f[k].value = String(problem[k]);
    for (const k of CHOICE_FIELDS) f[k].value = problem[k];
    f.transposed.checked = problem.transposed;
    this.showLayer(problem);
    this.markPreset(problem);
  }

  // What the w legend says and which settings apply (output_padding: transposed only; the padding
  // modes: convolutions only, as PyTorch's ConvTranspose2d pads with zeros).
  showLayer(problem) {
    const f = this.form.elements;
    const legend = this.form.querySelector("#w-legend");
    if (legend) legend.textContent = problem.transposed ? "w: C x F/groups x KH x KW (ConvTranspose2d)"
      : problem.groups > 1 ? "w: F x C/groups x KH x KW" : "w: F x C x KH x KW";
    f.output_padding.disabled = !problem.transposed;
    f.padding_mode.disabled = problem.transposed;
  }

  read() {
    const f = this.form.elements;
    const problem = {};
    for (const k of INT_FIELDS) {
      const v = Number(f[k].value);
      if (f[k].value.trim() === "" || !Number.isInteger(v)) return { error: `${k} must be a whole number, got "${f[k].value}"`, field: k };
      problem[k] = v;
    }
    for (const k of PAIR_FIELDS) {
      const pair = parsePair(f[k].value);
      if (!pair) return { error: `${k} must be a whole number or two separated by a comma (rows,cols), got "${f[k].value}"`, field: k };
      problem[k] = pair;
    }
    const padding = parsePadding(f.padding.value, { negative: COPYING_MODES.includes(f.padding_mode.value) });
    if (padding === null) {
      return { error: `padding must be a whole number, two (rows,cols), four (top,bottom,left,right), same or valid `
        + `(negative sides crop only in the reflect, replicate and circular modes), got "${f.padding.value}"`, field: "padding" };
    }
    problem.padding = padding;
    problem.transposed = f.transposed.checked;
    if (!problem.transposed) problem.output_padding = [0, 0];
    if (problem.transposed && problem.padding_mode !== "zeros") problem.padding_mode = "zeros";
    if (problem.groups < 1 || problem.C % problem.groups || problem.F % problem.groups) {
      return { error: `groups must be at least 1 and divide C = ${problem.C} and F = ${problem.F} (each group has C/groups `
        + `input channels and F/groups kernels), got ${problem.groups}`, field: "groups" };
    }
    for (const k of RATE_FIELDS) {
      const v = Number(f[k].value.replace("\u2212", "-"));
      if (f[k].value.trim() === "" || !Number.isFinite(v) || v < 0) return { error: `${k} must be a number >= 0, got "${f[k].value}"`, field: k };
      problem[k] = v;
    }
    for (const k of CHOICE_FIELDS) problem[k] = f[k].value;
    if (f.transposed.checked) problem.padding_mode = "zeros";
    this.showLayer(problem);
    return { problem };
  }

  submit() {
    const { problem, error, field } = this.read();
    if (error) { this.onInvalid(error, field); return; }
    this.markPreset(problem);
    this.onChange(problem, {});
  }
}
