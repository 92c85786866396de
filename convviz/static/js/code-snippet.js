// "The code for this view": a dialog with two runnable programs that rebuild the problem on screen
// exactly (PyTorch, and NumPy with convviz), written by the server (POST /api/v1/export/code/{phase})
// from the problem's shapes, value kind and seed plus the cells typed on the page, and printing
// the tensor the view shows. Copy or save either one.

import { postJSON } from "./api.js";

const TABS = [["pytorch", "PyTorch"], ["numpy", "NumPy + convviz"]];

// The page's typed cells (Map "tensor|i,j,k,l" -> value) as the URL writes them: x@0,0,1,2=5;...
export function editsParam(edits) {
  return [...edits].map(([key, v]) => `${key.replace("|", "@")}=${v}`).join(";");
}

export class CodeDialog {
  constructor({ onError }) {
    this.onError = onError;
    this.dialog = document.createElement("dialog");
    this.dialog.id = "code-dialog";
    this.dialog.className = "code-dialog";
    this.dialog.setAttribute("aria-labelledby", "code-title");
    const head = document.createElement("div");
    head.className = "code-head";
    const title = document.createElement("h2");
    title.id = "code-title";
    title.textContent = "Code for this view";
    this.note = document.createElement("p");
    this.note.className = "hint";
    head.append(title, this.note);
    const tabs = document.createElement("div");
    tabs.className = "code-tabs";
    tabs.setAttribute("role", "tablist");
    this.tabs = new Map();
    for (const [key, label] of TABS) {
      const tab = document.createElement("button");
      tab.type = "button";
      tab.setAttribute("role", "tab");
      tab.dataset.lang = key;
      tab.textContent = label;
      tab.addEventListener("click", () => this.show(key));
      this.tabs.set(key, tab);
      tabs.append(tab);
    }
    this.pre = document.createElement("pre");
    this.pre.className = "code";
    this.pre.tabIndex = 0;
    this.code = document.createElement("code");
    this.pre.append(this.code);
    const actions = document.createElement("div");
    actions.className = "code-actions";
    const copy = this.action("Copy", () => this.copy());
    copy.id = "code-copy";
    const saveButton = this.action("Save .py", () => this.save());
    const close = this.action("Close", () => this.dialog.close());
    this.status = document.createElement("span");
    this.status.className = "hint";
    this.status.setAttribute("role", "status");
    actions.append(copy, saveButton, close, this.status);
    this.dialog.append(head, tabs, this.pre, actions);
    document.body.append(this.dialog);
    this.answer = null;
    this.lang = "pytorch";
  }

  action(text, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  // view: {generated, edits, phase, sel} of the view on screen
  async open(view) {
    const query = new URLSearchParams(view.sel);
    if (view.edits.size) query.set("edit", editsParam(view.edits));
    try {
      this.answer = await postJSON(`/api/v1/export/code/${view.phase}?${query}`, view.generated);
    } catch (err) {
      this.onError(err);
      return;
    }
    this.note.textContent = this.answer.values === "inline"
      ? "Every value is written out: the problem is small."
      : "Values are regenerated from their shapes, kind and seed (convviz's generator), with your typed cells set after.";
    this.status.textContent = "";
    this.show(this.lang);
    if (!this.dialog.open) this.dialog.showModal();
  }

  show(lang) {
    this.lang = lang;
    this.code.textContent = this.answer ? this.answer[lang] : "";
    for (const [key, tab] of this.tabs) tab.setAttribute("aria-selected", String(key === lang));
  }

  async copy() {
    try {
      await navigator.clipboard.writeText(this.code.textContent);
      this.status.textContent = "Copied.";
    } catch {
      // no clipboard permission: select the code so that Ctrl+C copies it
      const range = document.createRange();
      range.selectNodeContents(this.code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      this.status.textContent = "Selected: press Ctrl+C to copy.";
    }
  }

  save() {
    const blob = new Blob([this.code.textContent], { type: "text/x-python" });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = `convviz_${this.answer.phase}_${this.lang}.py`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
