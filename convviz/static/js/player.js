// The step player: first / back / play-pause / forward / last, a scrubber over every step, a
// speed, and a jump box (1-based, as shown); space and the left / right arrows drive it.
// It only moves a step number; main.js decides what a step looks like.

export class Player {
  constructor(root, { onStep, isReady }) {
    this.onStep = onStep;
    this.isReady = isReady; // isReady(k): is step k loaded (else playing waits for it)
    this.total = 1;
    this.step = 0;
    this.timer = null;
    const $ = (id) => root.querySelector(`#${id}`);
    this.el = {
      first: $("first"), back: $("back"), play: $("play"), fwd: $("fwd"), last: $("last"),
      scrubber: $("scrubber"), jump: $("jump"), count: $("step-count"), speed: $("speed"),
    };
    this.el.first.addEventListener("click", () => this.go(0));
    this.el.back.addEventListener("click", () => this.go(this.step - 1));
    this.el.fwd.addEventListener("click", () => this.go(this.step + 1));
    this.el.last.addEventListener("click", () => this.go(this.total - 1));
    this.el.play.addEventListener("click", () => this.toggle());
    this.el.scrubber.addEventListener("input", () => this.go(Number(this.el.scrubber.value)));
    this.el.jump.addEventListener("change", () => this.go(Number(this.el.jump.value) - 1));
    this.el.speed.addEventListener("change", () => { if (this.timer) { this.pause(); this.play(); } });
    document.addEventListener("keydown", (e) => this.key(e));
  }

  key(e) {
    if (this.stale || e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    const typing = t.closest && t.closest("input, select, textarea, [contenteditable], .editor");
    const inGrid = t.closest && t.closest(".cell");
    if (typing) return;
    if (e.key === " " && !(t.closest && t.closest("button, summary, li[tabindex]"))) {
      e.preventDefault();
      this.toggle();
    } else if (!inGrid && e.key === "ArrowRight") { e.preventDefault(); this.go(this.step + 1); }
    else if (!inGrid && e.key === "ArrowLeft") { e.preventDefault(); this.go(this.step - 1); }
    else if (!inGrid && e.key === "Home") { e.preventDefault(); this.go(0); }
    else if (!inGrid && e.key === "End") { e.preventDefault(); this.go(this.total - 1); }
  }

  setTotal(total, step) {
    this.total = Math.max(1, total);
    this.el.scrubber.max = String(this.total - 1);
    this.el.jump.max = String(this.total);
    this.el.count.textContent = `of ${this.total.toLocaleString("en")}`;
    this.show(Math.min(Math.max(0, step), this.total - 1));
  }

  // While the problem on screen is refused, the steps of the last one are out of date: the
  // controls are off and the count says so.
  setStale(stale) {
    this.stale = stale;
    for (const key of ["first", "back", "play", "fwd", "last", "scrubber", "jump"]) this.el[key].disabled = stale;
    if (stale) this.pause();
    this.el.count.textContent = stale ? "of \u2014" : `of ${this.total.toLocaleString("en")}`;
  }

  show(k) {
    this.step = k;
    this.el.scrubber.value = String(k);
    this.el.jump.value = String(k + 1);
    this.el.scrubber.setAttribute("aria-valuetext", `step ${k + 1} of ${this.total}`);
  }

  go(k) {
    const next = Math.min(Math.max(0, Math.round(k) || 0), this.total - 1);
    this.show(next);
    this.onStep(next);
  }

  toggle() { if (this.timer) this.pause(); else this.play(); }

  play() {
    if (this.timer) return;
    if (this.step >= this.total - 1) this.go(0);
    this.el.play.textContent = "\u23f8 pause";
    this.el.play.setAttribute("aria-label", "pause");
    const tick = () => {
      const delay = 1000 / Number(this.el.speed.value);
      if (this.step >= this.total - 1) { this.pause(); return; }
      if (this.isReady(this.step + 1)) this.go(this.step + 1);
      else this.onStep(this.step, { prefetch: this.step + 1 });
      this.timer = setTimeout(tick, delay);
    };
    this.timer = setTimeout(tick, 1000 / Number(this.el.speed.value));
  }

  pause() {
    clearTimeout(this.timer);
    this.timer = null;
    this.el.play.textContent = "\u25b6 play";
    this.el.play.setAttribute("aria-label", "play");
  }
}
