// The Check mode: the learner's own out / grad_x / grad_w / grad_b (pasted JSON, or dropped .npy /
// .npz files) judged by POST /api/v1/check against the problem on screen. Every drawn cell of a
// checked tensor carries data-check="ok" | "wrong" and shows the learner's value beside the right
// one; [data-diagnosis] names the mistake the server proved (data-code, empty when none); the first
// wrong cell's step is one click away. The submission lives in the URL (check=) for small problems.

import { fmt } from "./format.js";
import { appendNamedOptions } from "./named-options.js";
import { readArrays } from "./npy.js";

export const TENSORS = ["out", "grad_x", "grad_w", "grad_b"];
// names learners give their arrays (CS231n's dx, dw, db) -> convviz's
const ALIASES = { dx: "grad_x", dw: "grad_w", db: "grad_b", dout: "out", y: "out" };
export const URL_VALUES_CAP = 4096; // submitted numbers kept in the link; beyond this the link omits them

const count = (a) => (Array.isArray(a) ? a.reduce((s, v) => s + count(v), 0) : 1);
const depth = (a) => (Array.isArray(a) ? 1 + depth(a[0]) : 0);

// {name: nested array} from any of the accepted spellings; throws saying what is wrong.
export function normalise(obj) {
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) {
    throw new Error('give a JSON object of tensors, e.g. {"grad_x": [[1, 2], [3, 4]]}');
  }
  const out = {};
  for (const [key, value] of Object.entries(obj)) {
    const name = ALIASES[key] || key;
    if (!TENSORS.includes(name)) {
      throw new Error(`"${key}" is not a result convviz checks: use ${TENSORS.join(", ")} (or dx, dw, db)`);
    }
    if (!Array.isArray(value)) throw new Error(`${key} must be a (nested) list of numbers`);
    out[name] = value;
  }
  if (!Object.keys(out).length) throw new Error("nothing to check: give at least one of " + TENSORS.join(", "));
  return out;
}

export class CheckMode {
  constructor(els, { postJSON, onChange, onJump }) {
    Object.assign(this, { els, postJSON, onChange, onJump });
    this.submitted = null; // {tensor: nested lists}
    this.message = "";     // what was wrong with the last thing given to check, until something is checked
    this.result = null;    // the server's answer for `resultKey`
    this.resultKey = "";
    this.examples = [];
    els.run.addEventListener("click", () => this.fromText());
    els.clear.addEventListener("click", () => this.set(null));
    els.files.addEventListener("change", () => this.fromFiles([...els.files.files]));
    for (const type of ["dragenter", "dragover"]) {
      els.box.addEventListener(type, (e) => { e.preventDefault(); els.box.classList.add("dropping"); });
    }
    els.box.addEventListener("dragleave", () => els.box.classList.remove("dropping"));
    els.box.addEventListener("drop", (e) => {
      e.preventDefault();
      els.box.classList.remove("dropping");
      this.fromFiles([...e.dataTransfer.files]);
    });
    els.example.addEventListener("change", () => {
      const ex = this.examples.find((x) => x.name === els.example.value);
      els.example.value = "";
      if (ex) this.onChange({ problem: ex.problem, submitted: ex.submitted });
    });
  }

  setExamples(examples) {
    this.examples = examples;
    appendNamedOptions(this.els.example, examples);
  }

  get active() { return this.submitted !== null; }

  // the check= URL value, or null (nothing submitted, or too many numbers for a link)
  urlValue() {
    if (!this.submitted) return null;
    const n = Object.values(this.submitted).reduce((s, a) => s + count(a), 0);
    return n <= URL_VALUES_CAP ? JSON.stringify(this.submitted) : null;
  }

  // from the URL: a bad value is reported, not dropped silently
  fromUrl(text) {
    if (!text) return;
    try {
      this.submitted = normalise(JSON.parse(text));
      this.showInput(this.submitted);
    } catch (err) {
      this.say(`The link's check= could not be read: ${err.message}`);
    }
  }

  // The submission in the text box, unless it is too long to read there (then what it holds)
  showInput(submitted) {
    const n = Object.values(submitted).reduce((s, a) => s + count(a), 0);
    const small = n <= URL_VALUES_CAP;
    this.els.input.value = small ? JSON.stringify(submitted) : "";
    this.els.input.placeholder = small ? "" : `from files: ${Object.keys(submitted).join(", ")} (${n} numbers)`;
  }

  set(submitted) {
    this.message = "";
    this.submitted = submitted;
    this.result = null;
    this.resultKey = "";
    if (!submitted) this.els.input.value = "";
    this.onChange({ submitted });
  }

  fromText() {
    const text = this.els.input.value.trim();
    if (!text) { this.set(null); return; }
    try {
      this.set(normalise(JSON.parse(text)));
    } catch (err) {
      this.say(`Could not read the pasted text: ${err.message}`);
    }
  }

  async fromFiles(files) {
    if (!files.length) return;
    try {
      const found = {};
      for (const file of files) {
        for (const [name, arr] of Object.entries(await readArrays(file))) found[name] = arr.data;
      }
      const submitted = normalise({ ...(this.submitted || {}), ...found });
      this.showInput(submitted);
      this.set(submitted);
    } catch (err) {
      this.say(err.message);
    }
  }

  say(message) {
    this.message = message;
    this.els.result.hidden = false;
    this.els.summary.textContent = message;
    this.els.summary.className = "check-message";
    this.showDiagnosis(null);
    this.els.first.replaceChildren();
  }

  // POST /api/v1/check for `body` (the problem on screen), unless already answered
  async run(body) {
    if (!this.submitted) {
      this.result = null;
      this.els.result.hidden = !this.message; // a message about a refused submission stays
      if (!this.message) this.showDiagnosis(null);
      return;
    }
    const request = { ...body, submitted: this.submitted };
    const key = JSON.stringify(request);
    if (key === this.resultKey) return;
    try {
      this.result = await this.postJSON("/api/v1/check", request);
      this.message = "";
      this.resultKey = key;
      this.render();
    } catch (err) {
      this.result = null;
      this.resultKey = "";
      this.say(`The check was refused: ${err.message}`);
    }
  }

  showDiagnosis(d) {
    const el = this.els.diagnosis;
    el.dataset.code = d ? d.code : "";
    el.hidden = !d;
    el.querySelector(".title").textContent = d ? `${d.code}: ${d.title}` : "";
    el.querySelector(".explanation").textContent = d ? d.explanation : "";
  }

  render() {
    const r = this.result;
    const els = this.els;
    els.result.hidden = false;
    const lines = Object.entries(r.tensors).map(([name, t]) => {
      if (t.ok) return `${name}: right (${t.shape_expected.join("x")})`;
      if (t.shape_got.join() !== t.shape_expected.join()) {
        return `${name}: shape ${t.shape_got.join("x")}, expected ${t.shape_expected.join("x")}`;
      }
      return `${name}: ${t.wrong_count} of ${t.shape_expected.reduce((a, b) => a * b, 1)} cells wrong ` +
             `(largest error ${fmt(t.max_abs_error, 3)})`;
    });
    els.summary.className = r.ok ? "check-ok" : "check-wrong";
    const linked = this.urlValue() ? "" : " (too many numbers to keep in the link: share the files instead)";
    els.summary.textContent = (r.ok ? "All right. " : "") + lines.join("; ") + linked;
    this.showDiagnosis(r.diagnosis);
    els.first.replaceChildren();
    for (const [name, t] of Object.entries(r.tensors)) {
      if (!t.first) continue;
      const f = t.first;
      const box = document.createElement("div");
      box.className = "check-first";
      const head = document.createElement("p");
      head.textContent = `First wrong cell of ${name}: [${f.index.join(",")}] (step ${f.step + 1}): ` +
        `right ${fmt(f.expected, 3)}, yours ${fmt(f.got, 3)}, difference ${fmt(f.difference, 3)}`;
      const eq = document.createElement("pre");
      eq.textContent = f.equation + (f.note ? `\n${f.note}` : "");
      const go = document.createElement("button");
      go.type = "button";
      go.className = "check-jump";
      go.dataset.tensor = name;
      go.textContent = "Show this step";
      go.addEventListener("click", () => this.onJump(f.phase, f.step));
      box.append(head, eq, go);
      els.first.append(box);
    }
  }

  // Marks the drawn cells of every checked tensor whose shape is right: ok / wrong, with the
  // learner's value (the same rule as the server: |yours - right| <= atol + rtol |right|).
  decorate(cells) {
    const r = this.result;
    for (const cell of cells) {
      const name = cell.dataset.tensor;
      const t = r && r.tensors[name];
      cell.querySelector(".yours")?.remove();
      if (!t || t.shape_got.join() !== t.shape_expected.join()) { delete cell.dataset.check; continue; }
      let got = this.submitted[name];
      const idx = cell.dataset.idx.split(",").map(Number);
      for (let d = depth(got); d < idx.length; d++) got = [got]; // a matrix for a single sample and channel
      for (const i of idx) got = got[i];
      const right = Number(cell.dataset.value);
      const ok = Math.abs(got - right) <= 1e-9 + 1e-6 * Math.abs(right);
      cell.dataset.check = ok ? "ok" : "wrong";
      cell.title = `${cell.title.split("; yours")[0]}; yours: ${got}`;
      if (!ok) {
        const yours = document.createElement("span");
        yours.className = "yours";
        yours.textContent = fmt(got, 1);
        cell.append(yours);
      }
    }
  }
}
