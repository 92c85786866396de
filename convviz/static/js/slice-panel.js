// The "Show" panel: which sample n, kernel f and input channel c are drawn (one select each,
// sized to the problem) and the problem's geometry in one line. It reports a chosen slice;
// main.js loads it.

export class SlicePanel {
  // selects: {n, f, c} select elements; onChoose(axis, value): the user picked another slice.
  constructor({ selects, geometryEl, onChoose }) {
    Object.assign(this, { selects, geometryEl });
    for (const [axis, select] of Object.entries(selects)) {
      select.addEventListener("change", () => onChoose(axis, Number(select.value)));
    }
  }

  // geometry: the view's (GET /api/v1/page/view); sel: the drawn {n, f, c}.
  show(geometry, sel) {
    const g = geometry;
    fillSelect(this.selects.n, g.N, sel.n);
    fillSelect(this.selects.f, g.F, sel.f);
    fillSelect(this.selects.c, g.C, sel.c);
    const [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
    this.geometryEl.textContent = `x ${g.N}\u00d7${g.C}\u00d7${g.H}\u00d7${g.W}, w ${g.F}\u00d7${g.C}\u00d7${g.KH}\u00d7${g.KW}, `
      + `stride ${sh},${sw}, padding ${ph},${pw}, dilation ${dh},${dw} \u2192 out ${g.N}\u00d7${g.F}\u00d7${g.Ho}\u00d7${g.Wo}; `
      + `x_pad ${g.Hp}\u00d7${g.Wp}, grad_out_pad ${g.Hg}\u00d7${g.Wg}`
      + (g.remainder[0] || g.remainder[1] ? `; ${g.remainder[0]} row(s), ${g.remainder[1]} column(s) of x_pad never read` : "");
  }
}

// Rebuilds the options only when the size changed (keeps the open list stable while stepping).
function fillSelect(select, size, value) {
  if (select.options.length !== size) {
    select.replaceChildren(...Array.from({ length: size }, (_, i) => new Option(String(i), String(i))));
  }
  select.value = String(value);
}
