// The steps of the phase on screen, fetched in windows around the current step: a large trace
// (the tutorial's layer has 31,360 forward steps of 288 terms) is never asked for whole.
// Which steps, and from where, the registry entry says: `trace` names the phase whose steps
// play (im2col plays forward's) and comes from the JSON Lines stream, read step by step as
// they arrive; `steps_from: "scatter"` means the paged scatter endpoint, whose steps carry the
// running sums of the drawn slice (n, c).

import { postJSON, streamTrace } from "./api.js";

const TERMS_PER_WINDOW = 20000;

const paged = (entry) => entry.steps_from === "scatter";

// What identifies the steps of `entry` for `problem` and the drawn slice `sel`: two views with
// the same key play the same steps (forward and im2col), so the loaded ones are kept.
export function stepsKey(problem, entry, { n, c }) {
  return JSON.stringify([problem, entry.trace, entry.steps_from, paged(entry) ? [n, c] : null]);
}

export class StepSource {
  // problem: API body; entry: the phase's registry entry; sel: the drawn slice {n, f, c}
  constructor({ problem, entry, sel, total, termsPerStep, onArrive, onProgress, onError }) {
    Object.assign(this, { problem, sel, total, onArrive, onProgress, onError });
    this.trace = entry.trace;
    this.paged = paged(entry);
    this.cache = new Map();
    this.small = total * termsPerStep <= TERMS_PER_WINDOW;
    this.window = this.small ? total : Math.max(1, Math.min(500, Math.floor(TERMS_PER_WINDOW / termsPerStep)));
    this.inflight = null; // {start, stop, controller}
    this.closed = false;
  }

  get(k) { return this.cache.get(k); }

  // Every step, in order, when the whole trace is loaded (small problems); else null.
  all() {
    if (!this.small || this.cache.size < this.total) return null;
    return Array.from({ length: this.total }, (_, k) => this.cache.get(k));
  }

  close() {
    this.closed = true;
    if (this.inflight) this.inflight.controller.abort();
    this.inflight = null;
  }

  // Makes sure step k is loaded or loading; prefetches the next window while playing forward.
  ensure(k) {
    if (this.closed || k < 0 || k >= this.total) return;
    const f = this.inflight;
    if (!this.cache.has(k)) {
      if (f && k >= f.start && k < f.stop) return;
      if (f) f.controller.abort();
      const start = this.small ? 0 : Math.max(0, k - Math.floor(this.window / 4));
      this.fetchWindow(start, Math.min(this.total, start + this.window));
      return;
    }
    // prefetch ahead when the loaded run ahead of k is short
    if (!f && !this.small) {
      const ahead = Math.min(this.total - 1, k + Math.floor(this.window / 2));
      if (!this.cache.has(ahead)) {
        let start = k;
        while (start < this.total && this.cache.has(start)) start++;
        this.fetchWindow(start, Math.min(this.total, start + this.window));
      }
    }
    this.evict(k);
  }

  evict(k) {
    const keep = this.window * 4;
    if (this.small || this.cache.size <= keep) return;
    for (const key of this.cache.keys()) {
      if (Math.abs(key - k) > keep / 2) this.cache.delete(key);
    }
  }

  async fetchWindow(start, stop) {
    const controller = new AbortController();
    const job = { start, stop, controller };
    this.inflight = job;
    let received = 0;
    const progress = (done) => this.onProgress({ start, stop, received, done });
    progress(false);
    const accept = (step) => {
      this.cache.set(step.index, step);
      received += 1;
      this.onArrive(step.index);
      if (received % 8 === 0) progress(false);
    };
    try {
      if (this.paged) {
        for (let s = start; s < stop; s += 500) {
          const q = new URLSearchParams({ n: this.sel.n, c: this.sel.c, start: s, limit: Math.min(500, stop - s) });
          const page = await postJSON(`/api/v1/page/scatter?${q}`, this.problem, { signal: controller.signal });
          page.steps.forEach(accept);
        }
      } else {
        await streamTrace(this.trace, this.problem, {
          start, limit: stop - start, signal: controller.signal,
          onEvent: (event) => { if (event.event === "step") accept(event); },
        });
      }
    } catch (err) {
      if (err.name !== "AbortError" && !this.closed) this.onError(err);
    } finally {
      if (this.inflight === job) this.inflight = null;
      if (!controller.signal.aborted) progress(true);
    }
  }
}
