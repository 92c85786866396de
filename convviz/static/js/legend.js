// The legend, for the view on screen: the step's marks, the hover highlight and its pair
// numbers, and only the kinds of zero the view draws, each named for the tensor it pads
// (zeros.js), so grad_out_pad's margin is never called a padding of x.

import { ZERO_KINDS, legendText } from "./zeros.js";

function item(swatchClass, swatchText, text) {
  const li = document.createElement("li");
  const swatch = document.createElement("span");
  swatch.className = `swatch ${swatchClass}`;
  swatch.textContent = swatchText;
  li.append(swatch, ` ${text}`);
  li.dataset.kind = swatchClass;
  return li;
}

// list: the legend's <ul>; view: the server's view on screen.
export function showLegend(list, view) {
  const marks = new Set(view.grids.flatMap((g) => g.marks || []));
  const paired = view.terms.some((t) => t.length > 2);
  const items = [
    item("current", "", "current step: result and the cells it reads"),
    item("feeds", "", "linked to the hovered / focused cell"),
  ];
  if (paired) items.push(item("pair", "1", "the cells of one product carry the same number"));
  for (const kind of ZERO_KINDS) {
    if (marks.has(kind)) items.push(item(kind, kind === "unread" || kind === "copy" ? "" : "0", legendText(kind)));
  }
  if (view.grids.some((g) => g.step)) items.push(item("pending", "", "not computed yet"));
  list.replaceChildren(...items);
}
