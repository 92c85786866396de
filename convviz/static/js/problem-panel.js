// The problem panel: shapes, stride / padding / dilation per axis, value kind, seed, where
// grad_out comes from (the loss), the update step's lr and weight decay, and the presets. Reads
// and fills the form; reports a changed problem (or what is wrong with a field, and which).

import { pairText, parsePair, problemFromBody } from "./url-state.js";

const INT_FIELDS = ["N", "C", "H", "W", "F", "KH", "KW", "seed"];
const PAIR_FIELDS = ["stride", "padding", "dilation"];
const RATE_FIELDS = ["lr", "weight_decay"];
const CHOICE_FIELDS = ["values", "loss"];

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
    for (const p of presets) {
      const opt = document.createElement("option");
      opt.value = p.name;
      opt.textContent = p.title;
      opt.title = p.description;
      this.presetSelect.append(opt);
    }
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
    for (const k of RATE_FIELDS) f[k].value = String(problem[k]);
    for (const k of CHOICE_FIELDS) f[k].value = problem[k];
    this.markPreset(problem);
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
    for (const k of RATE_FIELDS) {
      const v = Number(f[k].value.replace("\u2212", "-"));
      if (f[k].value.trim() === "" || !Number.isFinite(v) || v < 0) return { error: `${k} must be a number >= 0, got "${f[k].value}"`, field: k };
      problem[k] = v;
    }
    for (const k of CHOICE_FIELDS) problem[k] = f[k].value;
    return { problem };
  }

  submit() {
    const { problem, error, field } = this.read();
    if (error) { this.onInvalid(error, field); return; }
    this.markPreset(problem);
    this.onChange(problem, {});
  }
}
