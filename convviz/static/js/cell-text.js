// The text of a grid's cells: one format for the whole grid (whole numbers, a number of
// decimals, or an exponent form), and a font size, chosen so that no cell's text is wider than
// its box; the exact value stays in the cell's tooltip and data-value.

import { signed } from "./format.js";

const FONT = 'ui-monospace, "DejaVu Sans Mono", monospace'; // the cells' font (convviz.css)
const MIN_FONT = 8; // below this the text is not drawn at all (the tooltip still has it)
const ROOM = 4; // px of a cell's width that text may not use: 1px borders and 1px either side

let context = null;
function textWidth(text, fontPx) {
  if (!context) context = document.createElement("canvas").getContext("2d");
  context.font = `${fontPx}px ${FONT}`;
  return context.measureText(text).width;
}

const fixed = (d) => (v) => signed(Number.isInteger(v) && d === 0 ? String(v) : v.toFixed(d));
const exponent = (m) => (v) => signed(v.toExponential(m));

// The values whose text is longest in each format: the extremes of each sign (for the exponent
// form also the smallest magnitudes, whose exponents are longest).
function extremes(values) {
  let maxPos = 0, minNeg = 0, tinyPos = Infinity, tinyNeg = -Infinity;
  for (const v of values) {
    if (v > maxPos) maxPos = v;
    if (v < minNeg) minNeg = v;
    if (v > 0 && v < tinyPos) tinyPos = v;
    if (v < 0 && v > tinyNeg) tinyNeg = v;
  }
  return [maxPos, minNeg, ...(Number.isFinite(tinyPos) ? [tinyPos] : []), ...(Number.isFinite(tinyNeg) ? [tinyNeg] : [])];
}

// How a grid of `values` in cells `cellPx` wide shows its numbers, at most `baseFont` px tall
// and `maxDigits` decimals: {text(v), font (0: no text), digits, exp}. Preference: as many
// decimals as fit at the base font or one barely smaller; then one decimal at a smaller font;
// then whole numbers; then an exponent form; else no text.
export function gridFormat(values, { cellPx, baseFont, maxDigits = 2 }) {
  const room = cellPx - ROOM;
  const probes = extremes(values);
  const whole = values.every((v) => Number.isInteger(v));
  const fits = (format, font) => probes.every((v) => textWidth(format(v), font) <= room);
  const fonts = [];
  for (let f = baseFont; f >= MIN_FONT; f--) fonts.push(f);
  const near = fonts.filter((f) => f >= baseFont * 0.85); // a font barely smaller than the grid's
  const tries = [];
  if (!whole) {
    for (let d = maxDigits; d >= 1; d--) tries.push([d, null, near]);
    tries.push([1, null, fonts]);
  }
  tries.push([0, null, fonts]);
  tries.push([null, 1, fonts], [null, 0, fonts]);
  for (const [digits, exp, sizes] of tries) {
    const format = digits !== null ? fixed(digits) : exponent(exp);
    for (const font of sizes) {
      if (fits(format, font)) return { text: format, font, digits, exp };
    }
  }
  return { text: () => "", font: 0, digits: null, exp: null };
}
