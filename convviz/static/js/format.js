// Number and name formatting: values as the tutorial writes them, and 1-based subscripts.

const MINUS = "\u2212";

// A number's text with a typographic minus, and never a signed zero: -0, or -0.001 rounded
// to "-0.00", is written as 0 (the API may keep -0.0; the page never shows it).
export function signed(text) {
  const negative = text.startsWith("-") && Number(text) !== 0;
  const body = (text.startsWith("-") ? text.slice(1) : text).replace("e+", "e").replace("e-", "e" + MINUS);
  return negative ? MINUS + body : body;
}

// A value: whole numbers as such, others with `digits` decimals (large ones in exponent form).
export function fmt(v, digits = 2) {
  if (v === null || v === undefined) return "";
  if (Number.isInteger(v)) return signed(String(v));
  return signed(Math.abs(v) >= 1000 ? v.toExponential(1) : v.toFixed(digits));
}

// A value inside an equation: negatives in parentheses after an operator.
export function fmtTerm(v, digits = 3) {
  const text = fmt(v, digits);
  return text.startsWith(MINUS) ? `(${text})` : text;
}

// A 0-based index (array or "a,b,c,d") -> the tutorial's 1-based subscript. With a single
// sample, channel and kernel only the last two axes are written (x22), as in the tutorial.
export function subscript(idx, compact) {
  const parts = (Array.isArray(idx) ? idx : String(idx).split(",").map(Number)).map((i) => i + 1);
  const shown = compact && parts.length === 4 ? parts.slice(2) : parts;
  return shown.every((v) => v < 10) && compact ? shown.join("") : shown.join(",");
}

// <name><sub>subscript</sub> as DOM nodes.
export function symbol(name, idx, compact) {
  const span = document.createElement("span");
  span.className = "sym";
  span.append(name);
  const sub = document.createElement("sub");
  sub.textContent = subscript(idx, compact);
  span.append(sub);
  return span;
}
