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

  // geometry: the view's (GET /api/v1/page/view); sel: the drawn {n, f, c}; groupOf: the view's
  // group_of with groups (which channels each group's kernels see), else absent.
  show(geometry, sel, groupOf = null) {
    const g = geometry;
    const groups = g.groups || 1;
    fillSelect(this.selects.n, g.N, sel.n);
    fillSelect(this.selects.f, g.F, sel.f, groupOf && ((f) => `${f} (group ${Math.floor(f / (g.F / groups))})`));
    fillSelect(this.selects.c, g.C, sel.c, groupOf && ((c) => `${c} (group ${Math.floor(c / (g.C / groups))})`));
    const [sh, sw] = g.stride, [dh, dw] = g.dilation;
    const x = `x ${g.N}\u00d7${g.C}\u00d7${g.H}\u00d7${g.W}`;
    const out = ` \u2192 out ${g.N}\u00d7${g.F}\u00d7${g.Ho}\u00d7${g.Wo}; `;
    if (g.transposed) {
      const [ph, pw] = g.padding, [oh, ow] = g.output_padding;
      this.geometryEl.textContent = `transposed: ${x}, w ${g.C}\u00d7${g.F / groups}\u00d7${g.KH}\u00d7${g.KW}, `
        + `stride ${sh},${sw}, padding ${ph},${pw}, output_padding ${oh},${ow}, dilation ${dh},${dw}`
        + (groups > 1 ? `, groups ${groups}` : "") + out
        + `x_pad (x spread and padded) ${g.Hp}\u00d7${g.Wp}, grad_out_pad ${g.Hg}\u00d7${g.Wg}` + groupText(groupOf);
      return;
    }
    const padding = g.pads ? `padding top ${g.pads[0]}, bottom ${g.pads[1]}, left ${g.pads[2]}, right ${g.pads[3]}`
      : `padding ${g.padding[0]},${g.padding[1]}`;
    this.geometryEl.textContent = `${x}, w ${g.F}\u00d7${g.C / groups}\u00d7${g.KH}\u00d7${g.KW}, `
      + `stride ${sh},${sw}, ${padding}${g.padding_mode ? ` (${g.padding_mode})` : ""}, dilation ${dh},${dw}`
      + (groups > 1 ? `, groups ${groups}` : "") + out
      + `x_pad ${g.Hp}\u00d7${g.Wp}, grad_out_pad ${g.Hg}\u00d7${g.Wg}`
      + (g.remainder[0] || g.remainder[1] ? `; ${g.remainder[0]} row(s), ${g.remainder[1]} column(s) of x_pad never read` : "")
      + groupText(groupOf);
  }
}

// "Groups: kernels 0-1 see channels 0-1; kernels 2-3 see channels 2-3." (the view's group_of)
function groupText(groupOf) {
  if (!groupOf) return "";
  const range = ([a, b]) => (b - a === 1 ? `${a}` : `${a}-${b - 1}`);
  const depthwise = groupOf.every((g) => g.channels[1] - g.channels[0] === 1);
  const parts = groupOf.map((g) => `${g.kernels[1] - g.kernels[0] === 1 ? "kernel" : "kernels"} ${range(g.kernels)} `
    + `see${g.kernels[1] - g.kernels[0] === 1 ? "s" : ""} ${g.channels[1] - g.channels[0] === 1 ? "channel" : "channels"} `
    + range(g.channels));
  const shown = parts.length > 6 ? [...parts.slice(0, 3), "...", parts[parts.length - 1]] : parts;
  return `. Groups${depthwise ? " (depthwise: one channel each)" : ""}: ${shown.join("; ")}.`;
}

// Rebuilds the options only when they changed (keeps the open list stable while stepping);
// label(i): an option's text (its group), or null for the index alone.
function fillSelect(select, size, value, label = null) {
  const text = (i) => (label ? label(i) : String(i));
  if (select.options.length !== size || (size && select.options[size - 1].text !== text(size - 1))) {
    select.replaceChildren(...Array.from({ length: size }, (_, i) => new Option(text(i), String(i))));
  }
  select.value = String(value);
}
