// The problem panel: shapes, stride / padding / dilation per axis, value kind, seed and the
// presets. Reads and fills the form; reports a changed problem (or what is wrong with a field).

import { pairText, parsePair, problemFromBody } from "./url-state.js";

const INT_FIELDS = ["N", "C", "H", "W", "F", "KH", "KW", "seed"];
const PAIR_FIELDS = ["stride", "padding", "dilation"];

export class ProblemPanel {
  constructor(form, { presetSelect, presetDescription, onChange, onInvalid }) {
    Object.assign(this, { form, presetSelect, presetDescription, onChange, onInvalid });
    this.presets = [];
    form.addEventListener("change", (e) => {
      if (e.target === presetSelect) this.choosePreset(presetSelect.value);
      else this.submit();
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
    f.values.value = problem.values;
    this.markPreset(problem);
  }

  read() {
    const f = this.form.elements;
    const problem = {};
    for (const k of INT_FIELDS) {
      const v = Number(f[k].value);
      if (f[k].value.trim() === "" || !Number.isInteger(v)) return { error: `${k} must be a whole number, got "${f[k].value}"` };
      problem[k] = v;
    }
    for (const k of PAIR_FIELDS) {
      const pair = parsePair(f[k].value);
      if (!pair) return { error: `${k} must be a whole number or two separated by a comma (rows,cols), got "${f[k].value}"` };
      problem[k] = pair;
    }
    problem.values = f.values.value;
    return { problem };
  }

  submit() {
    const { problem, error } = this.read();
    if (error) { this.onInvalid(error); return; }
    this.markPreset(problem);
    this.onChange(problem, {});
  }
}
