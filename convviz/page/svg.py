"""A view as SVG, for slides and papers: drawn from the same view data the page draws (the grids,
their marks and the term lists of ``View.as_dict``) in the phase's layout from the registry, with
every number, title and operator as text (selectable, searchable, crisp at any size).

Numbers are written as the page writes them (``format.js``): whole numbers as such, others
with two decimals in small grids and one in larger ones, large ones in exponent form, a
typographic minus. With a ``step``, its result cell and every cell its terms read are
highlighted as on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

MINUS = "\u2212"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
INK, MUTED, LINE = "#1d2330", "#5b6473", "#c9cfd8"
BLUE, VERMILLION = "#0072b2", "#d55e00"
# fill, text colour, dash pattern of each cell mark (the page's legend)
MARKS = {
    "": ("#ffffff", INK, None),
    "pad": ("#eef0f3", "#7d8693", None),
    "margin": ("#eef0f3", "#7d8693", None),
    "gap": ("#ffffff", "#7d8693", "2 2"),
    "unread": ("#f4f4f4", "#a3a9b3", "3 2"),
}
CURRENT = ("#fde3cc", VERMILLION)  # the step's result cell
IN_STEP = ("#d4ebf9", BLUE)  # the cells its terms read
GAP_X, GAP_Y, MARGIN = 14, 12, 16


def fmt(v: float, digits: int) -> str:
    """The page's ``fmt``: whole numbers as such, others with ``digits`` decimals, |v| >= 1000 in
    exponent form (1.2e3), a typographic minus, never a signed zero."""
    if float(v).is_integer() and abs(v) < 1e21:
        text = str(int(v))
    elif abs(v) >= 1000:
        mantissa, exponent = f"{v:.1e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    else:
        text = f"{v:.{digits}f}"
    negative = text.startswith("-") and float(text.split("e")[0]) != 0
    body = text.lstrip("-").replace("e-", "e" + MINUS)
    return MINUS + body if negative else body


def cell_size(rows: int, cols: int) -> int:
    """Cell edge in px, by the grid's larger side (the page's size classes)."""
    m = max(rows, cols)
    for limit, size in ((6, 44), (10, 34), (16, 28), (24, 22), (40, 16)):
        if m <= limit:
            return size
    return 11


def _text_width(text: str, size: float) -> float:
    return 0.56 * size * len(text)  # an estimate: SVG has no layout engine


@dataclass
class Box:
    """Something drawn at (x, y): ``width`` x ``height``, its SVG made by ``draw(x, y)``."""

    width: float
    height: float
    draw: callable = field(repr=False)
    operator: bool = False  # drawn at the vertical centre of its row (``draw``'s y is its centre line)


def _grid_box(grid: dict, highlight: dict[int, tuple]) -> Box:
    rows, cols = grid["rows"], grid["cols"]
    size = cell_size(rows, cols)
    digits = 2 if size == 44 else 1
    texts = [fmt(v, digits) for v in grid["values"]]
    # the font that fits the longest number in a cell, at most the page's (a third of the cell)
    font = round(min(size * 0.34, 0.88 * size / (0.6 * max(map(len, texts), default=1))), 1)
    labelled = bool(grid.get("row_labels") or grid.get("col_labels"))
    row_labels, col_labels = grid.get("row_labels") or [], grid.get("col_labels") or []
    label_font = round(min(10.0, 0.95 * size / (0.56 * max((len(str(t)) for t in col_labels), default=1))), 1)
    label_w = max((_text_width(str(t), 10) for t in row_labels), default=0) + 6 if labelled else 0
    label_h = label_font + 6 if labelled else 0
    title = f"{grid['title']}  {rows}\u00d7{cols}"
    caption = grid["caption"]
    head = 34
    width = max(label_w + cols * size, _text_width(title, 13), _text_width(caption, 10.5))
    height = head + label_h + rows * size

    def draw(x0: float, y0: float) -> str:
        role = grid.get("role", "source")
        out = [f'<g class="tensor role-{role}" data-title="{escape(grid["title"])}" data-tensor="{grid["tensor"]}">',
               f'<text x="{x0:.1f}" y="{y0 + 13:.1f}" font-size="13" font-weight="bold" '
               f'fill="{VERMILLION if role == "result" else INK}">{escape(title)}</text>',
               f'<text x="{x0:.1f}" y="{y0 + 27:.1f}" font-size="10.5" fill="{MUTED}">{escape(caption)}</text>']
        gx, gy = x0 + label_w, y0 + head + label_h
        for j, label in enumerate(col_labels):
            out.append(f'<text x="{gx + (j + 0.5) * size:.1f}" y="{gy - 4:.1f}" font-size="{label_font}" '
                       f'fill="{MUTED}" text-anchor="middle">{escape(str(label))}</text>')
        for r, label in enumerate(row_labels):
            out.append(f'<text x="{gx - 4:.1f}" y="{gy + (r + 0.5) * size:.1f}" font-size="{min(10.0, size * 0.6):.1f}" '
                       f'fill="{MUTED}" text-anchor="end" dominant-baseline="central">{escape(str(label))}</text>')
        marks = grid.get("marks")
        for k, value in enumerate(grid["values"]):
            r, j = divmod(k, cols)
            mark = marks[k] if marks else ""
            fill, colour, dash = MARKS.get(mark, MARKS[""])
            stroke, width_ = LINE, 1
            state = highlight.get(grid["offset"] + k)
            if state is not None:
                fill, stroke = state
                width_ = 2.5 if state is CURRENT else 1.8
                colour = INK
            x, y = gx + j * size, gy + r * size
            dash_attr = f' stroke-dasharray="{dash}"' if dash and state is None else ""
            cls = "cell" + (f" mark-{mark}" if mark else "") + (
                " current" if state is CURRENT else " in-step" if state is not None else "")
            out.append(f'<g class="{cls}" data-idx="{grid["idx"][k]}" data-value="{value!r}">'
                       f'<rect x="{x:.1f}" y="{y:.1f}" width="{size}" height="{size}" fill="{fill}" '
                       f'stroke="{stroke}" stroke-width="{width_}"{dash_attr}/>')
            if mark == "unread" and state is None:
                out.append(f'<line x1="{x:.1f}" y1="{y + size:.1f}" x2="{x + size:.1f}" y2="{y:.1f}" '
                           f'stroke="#b9bec7" stroke-width="1"/>')
            out.append(f'<text x="{x + size / 2:.1f}" y="{y + size / 2:.1f}" font-size="{font}" fill="{colour}" '
                       f'text-anchor="middle" dominant-baseline="central"'
                       f'{" font-style=" + chr(34) + "italic" + chr(34) if mark == "gap" else ""}>'
                       f'{escape(texts[k])}</text></g>')
        out.append("</g>")
        return "\n".join(out)

    return Box(width, height, draw)


def _operator_box(text: str) -> Box:
    width = max(18.0, _text_width(text, 22))

    def draw(x0: float, y0: float) -> str:
        return (f'<text class="op" x="{x0 + width / 2:.1f}" y="{y0:.1f}" font-size="22" fill="{MUTED}" '
                f'text-anchor="middle" dominant-baseline="central">{escape(text)}</text>')

    return Box(width, 24, draw, operator=True)


def _stack(boxes: list[Box]) -> Box:
    width = max(b.width for b in boxes)
    height = sum(b.height for b in boxes) + GAP_Y * (len(boxes) - 1)

    def draw(x0: float, y0: float) -> str:
        parts, y = [], y0
        for b in boxes:
            # operators are drawn at their vertical centre
            parts.append(b.draw(x0 + (width - b.width) / 2, y + (b.height / 2 if b.operator else 0)))
            y += b.height + GAP_Y
        return "\n".join(parts)

    return Box(width, height, draw)


def highlight_of(view: dict, step: int | None) -> dict[int, tuple]:
    """Cell id -> colours: the result cell of ``step`` and the cells of every term it heads."""
    if step is None:
        return {}
    result = next((g for g in view["grids"] if g.get("role") == "result" and g.get("step")), None)
    if result is None or step not in result["step"]:
        return {}
    rid = result["offset"] + result["step"].index(step)
    marks = {cid: IN_STEP for term in view["terms"] if term[0] == rid for cid in term[1:]}
    marks[rid] = CURRENT
    return marks


def view_svg(view: dict, layout, *, title: str, step: int | None = None) -> str:
    """The SVG of ``view`` (``View.as_dict()``) in ``layout`` (the registry's: grid titles and
    operators, left to right; a nested list stacks its items)."""
    highlight = highlight_of(view, step)
    grids = {g["title"]: g for g in view["grids"]}
    units: list[Box] = []
    pending: list[Box] = []
    for item in layout:
        if isinstance(item, (list, tuple)):
            units.append(_stack([_grid_box(grids[s], highlight) if s in grids else _operator_box(s) for s in item]))
        elif item in grids:
            units.extend(pending + [_grid_box(grids[item], highlight)])
            pending = []
            continue
        else:
            pending.append(_operator_box(item))
            continue
        units[-1:-1] = pending
        pending = []
    units.extend(pending)
    row_h = max(u.height for u in units)
    body_w = sum(u.width for u in units) + GAP_X * (len(units) - 1)
    head = 40
    width = int(MARGIN * 2 + max(body_w, _text_width(title, 15)))
    height = int(MARGIN * 2 + head + row_h + (20 if view.get("notes") else 0))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="{FONT}">',
             f"<title>{escape(title)}</title>",
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="{MARGIN}" y="{MARGIN + 15}" font-size="15" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    x, y = MARGIN, MARGIN + head
    for u in units:
        parts.append(u.draw(x, y + row_h / 2) if u.operator else u.draw(x, y))
        x += u.width + GAP_X
    if view.get("notes"):
        parts.append(f'<text x="{MARGIN}" y="{height - MARGIN:.1f}" font-size="11" fill="{MUTED}">'
                     f'{escape(" ".join(view["notes"]))}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
