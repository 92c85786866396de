// The page's downloads: the problem on screen and every tensor (.npz, .json), the phase's whole
// trace (.jsonl), the view as SVG (drawn by the server from the same view data, text as text)
// and as PNG (that SVG painted on a canvas here, at twice its size), and the code that rebuilds
// the problem (code-snippet.js). Files the server writes are fetched by posting a form, so the
// browser streams them to disk (a trace can be a gigabyte); the server accepts such form posts
// from this page only.

import { CodeDialog } from "./code-snippet.js";

const FILES = [
  { label: ".npz", title: "the problem and every tensor, as a NumPy archive", path: () => "/api/v1/export/problem.npz" },
  { label: ".json", title: "the problem and every tensor, as JSON", path: () => "/api/v1/export/problem.json" },
  { label: "trace .jsonl", title: "every step of this phase, as JSON Lines", path: (v) => `/api/v1/export/trace/${v.phase}.jsonl` },
  { label: "view .svg", title: "this view for slides and papers (SVG, text as text)", path: (v) => `/api/v1/export/view/${v.phase}.svg`, view: true },
];

export class ExportMenu {
  // box: the element to fill. current(): a Promise of the view on screen:
  // {body, generated, edits, phase, sel: {n, f, c}, step}. onError(err): shows a failure.
  constructor(box, { current, onError }) {
    this.current = current;
    this.onError = onError;
    this.code = new CodeDialog({ onError });
    const label = document.createElement("span");
    label.className = "export-label";
    label.textContent = "Export";
    box.append(label);
    for (const file of FILES) box.append(this.button(file.label, file.title, () => this.download(file)));
    box.append(this.button("view .png", "this view as a PNG image (twice the SVG's size)", () => this.png()));
    box.append(this.button("Code", "PyTorch and NumPy code that rebuilds this problem", async () => this.code.open(await this.current())));
  }

  button(text, title, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.title = title;
    b.dataset.export = text;
    b.addEventListener("click", async () => {
      try { await onClick(); } catch (err) { this.onError(err); }
    });
    return b;
  }

  // A form post: the browser saves the answer (Content-Disposition: attachment) as it arrives.
  async download(file) {
    const v = await this.current();
    const fields = { problem: JSON.stringify(v.body) };
    if (file.view) Object.assign(fields, { ...v.sel, step: v.step });
    const form = document.createElement("form");
    form.method = "post";
    form.action = file.path(v);
    form.hidden = true;
    for (const [name, value] of Object.entries(fields)) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = String(value);
      form.append(input);
    }
    document.body.append(form);
    form.submit();
    form.remove();
  }

  async png() {
    const v = await this.current();
    const query = new URLSearchParams({ ...v.sel, step: v.step });
    const response = await fetch(`/api/v1/export/view/${v.phase}.svg?${query}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(v.body),
    });
    if (!response.ok) throw new Error((await response.json()).error.message);
    const svg = await response.text();
    const name = (response.headers.get("content-disposition") || "").match(/filename="([^"]+)\.svg"/);
    const image = new Image(); // a data: URL, which the page's img-src allows
    await new Promise((resolve, reject) => {
      image.onload = resolve;
      image.onerror = () => reject(new Error("the browser could not draw the view's SVG"));
      image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    });
    const canvas = document.createElement("canvas");
    canvas.width = image.width * 2;
    canvas.height = image.height * 2;
    const ctx = canvas.getContext("2d");
    ctx.scale(2, 2);
    ctx.drawImage(image, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    save(blob, `${name ? name[1] : "convviz-view"}.png`);
  }
}

// Saves a blob the page made itself as a file.
export function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
