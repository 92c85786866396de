"""The page teaches better (issue 10), in a real headless Chromium against a real server, one test
per item: numbers fit their cells (measured), no signed zero, a refused problem shown where the
grids were with what came from the last problem hidden, a link's refused parameters named, the
zeros named for the tensor they pad, hover pairs the operands and marks the equations, large
layouts on one row with im2col's row windows and whole-text selects, all channels at once, the
window that moves, the update step's values, and where grad_out comes from. Expected values come
from docs/conventions.md written out here or in tests/page_helpers.py, and from the API's arrays."""

from __future__ import annotations

import re
from itertools import product

import httpx
import pytest

from page_helpers import CHANNELS, DILATED, STRIDED_PADDED, WORKED, Geo, key
from test_page import (SHOTS, browser, cell, feeds, open_page, page, switch_phase, url_params,  # noqa: F401
                       wait_ready, wait_until)

pytestmark = pytest.mark.browser

TUTORIAL = "n=10&c=32&h=14&w=14&f=16&kh=3&kw=3&stride=1&padding=1&dilation=1&values=normal&seed=0"
MINUS = "\u2212"

# Each cell's text box against its inner box (borders excluded); the text may not be wider.
CLIPPED = """() => [...document.querySelectorAll('#stage .cell')].filter(c => c.textContent).map(c => {
  const r = document.createRange(); r.selectNodeContents(c);
  const text = r.getBoundingClientRect(), box = c.getBoundingClientRect();
  return [c.dataset.tensor, c.dataset.idx, c.textContent, text.width, box.width - 2];
}).filter(([, , , text, room]) => text > room + 0.5)"""


def texts_by_grid(pg) -> dict:
    return pg.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#stage figure.tensor')].map(f =>
      [f.dataset.title, [...f.querySelectorAll('.cell')].map(c => c.textContent)]))""")


def precision(text: str) -> str:
    """What a cell's text says about its format: 'd2' (two decimals), 'd0', 'e1' (exponent, one decimal)."""
    m = re.fullmatch(r"[\u2212]?\d+(?:\.(\d+))?(e[\u2212]?\d+)?", text)
    assert m, f"not a number as the page writes one: {text!r}"
    return ("e" if m.group(2) else "d") + str(len(m.group(1) or ""))


def no_signed_zero(texts):
    for text in texts:
        for token in re.findall(r"\u2212[\d.]+", text):
            assert float(token[1:]) != 0, f"a signed zero is shown: {token!r} in {text!r}"


# 1 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", [
    f"{TUTORIAL}&phase=forward", f"{TUTORIAL}&phase=grad_w", f"{TUTORIAL}&phase=update",
    # values far beyond the small integers: an edited 123456.789 and a -2.5e6
    "edit=x@0,0,1,1=123456.789;w@0,0,0,0=-2500000.5&phase=forward",
    "edit=x@0,0,1,1=123456.789;grad_out@0,0,0,0=1000000.25&phase=grad_x",
])
def test_no_cell_text_is_wider_than_its_box(page, query):
    open_page(page, query)
    assert page.evaluate(CLIPPED) == []
    for title, texts in texts_by_grid(page).items():
        shown = {precision(t) for t in texts if t}
        assert len(shown) <= 1, f"{title}: one precision per grid, got {shown}"
    if "phase=forward" in query and "edit=" in query:
        big = cell(page, "x_pad", "0,0,1,1")
        assert big.get_attribute("data-value") == "123456.789"
        assert "123456.789" in big.get_attribute("title")  # the full value is in the tooltip


def test_no_cell_text_is_wider_than_its_box_at_1920(page):
    page.set_viewport_size({"width": 1920, "height": 1000})
    for phase in ("forward", "grad_x", "im2col"):
        open_page(page, f"{TUTORIAL}&phase={phase}")
        assert page.evaluate(CLIPPED) == [], phase


# 2 -------------------------------------------------------------------------------------------
def test_never_a_signed_zero(page):
    # -0.0004 rounds to zero at any precision a cell shows; normal values include such near-zeros
    open_page(page, "edit=x@0,0,0,0=-0.0004;w@0,0,0,0=-0.0001&phase=forward")
    assert cell(page, "x_pad", "0,0,0,0").get_attribute("data-value") == "-0.0004"
    no_signed_zero(page.eval_on_selector_all("#stage .cell", "els => els.map(e => e.textContent)"))
    no_signed_zero([page.locator("#formula").inner_text()])
    open_page(page, f"{TUTORIAL}&phase=forward")
    no_signed_zero(page.eval_on_selector_all("#stage .cell", "els => els.map(e => e.textContent)"))
    no_signed_zero([page.locator("#formula").inner_text()])


# 3 -------------------------------------------------------------------------------------------
def test_a_refused_problem_shows_where_the_grids_were_and_hides_what_is_out_of_date(page):
    page.expected_console.append("status of 422")
    open_page(page)
    grids_top = page.locator("#stage").bounding_box()["y"]
    assert page.locator("#all-equations").is_visible() and page.locator("#step-count").inner_text() == "of 4"
    page.locator('input[name="KH"]').fill("5")
    page.locator('input[name="KH"]').press("Tab")
    page.wait_for_selector("#error:not([hidden])")
    error = page.locator("#error")
    assert "does not fit" in error.inner_text() and "Change KH" in error.inner_text()
    # in the main column, where the grids were, not in the sidebar
    assert page.locator("main #error").count() == 1 and page.locator("aside #error").count() == 0
    assert abs(error.bounding_box()["y"] - grids_top) < 60
    # everything derived from the old problem is hidden or marked out of date
    for hidden in ("#stage", "#formula", "#all-equations", "#equation", "#notes"):
        assert not page.locator(hidden).is_visible(), hidden
    assert page.locator("#step-count").inner_text() == "of \u2014"
    assert page.locator("#play").is_disabled() and page.locator("#scrubber").is_disabled()
    assert page.locator('input[name="KH"]').get_attribute("aria-invalid") == "true"
    assert "out-of-date" in page.locator("section.select").get_attribute("class")
    # a field the panel itself refuses: the same place, that field marked
    page.locator('input[name="stride"]').fill("two")
    page.locator('input[name="stride"]').press("Tab")
    wait_until(page, "document.querySelector('#error').innerText.includes('stride must be')")
    assert page.locator('input[name="stride"]').get_attribute("aria-invalid") == "true"
    assert page.locator('input[name="KH"]').get_attribute("aria-invalid") is None
    # putting it right brings everything back
    page.locator('input[name="stride"]').fill("1")
    page.locator('input[name="KH"]').fill("2")
    page.locator('input[name="KH"]').press("Tab")
    page.wait_for_selector("#error", state="hidden")
    wait_ready(page)
    assert page.locator("#stage").is_visible() and page.locator("#formula").is_visible()
    assert page.locator("#step-count").inner_text() == "of 4" and not page.locator("#play").is_disabled()


# 4 -------------------------------------------------------------------------------------------
def test_bad_url_parameters_are_named_and_the_rest_is_loaded(page):
    open_page(page, "padding=-1&h=5&n=abc&values=big&lr=-0.5&phase=backward&step=x&kw=3")
    notice = page.locator("#url-notice")
    assert notice.is_visible()
    text = notice.inner_text()
    for refused in ("padding=-1", "n=abc", "values=big", "lr=-0.5", "phase=backward", "step=x"):
        assert refused in text, refused
    assert "padding must be a whole number >= 0" in text and "values must be one of integers, normal, ones" in text
    assert "lr must be a number >= 0" in text and "phase must be one of forward, grad_x" in text
    # what could be used is used: H=5 and KW=3 over the default problem, padding left at 0
    params = url_params(page)
    assert (params["h"], params["kw"], params["padding"], params["n"]) == ("5", "3", "0", "1")
    assert page.locator('input[name="H"]').input_value() == "5"
    page.locator("#url-notice button.dismiss").click()
    assert not notice.is_visible()
    # clamped, and said: a step past the last
    open_page(page, "step=99")
    wait_until(page, "document.querySelector('#url-notice').innerText.includes('step=99')")
    assert "this phase has 4 steps" in page.locator("#url-notice").inner_text()
    assert url_params(page)["step"] == "3"
    # /?padding=-1 alone: the default problem and the reason
    open_page(page, "padding=-1")
    assert "padding=-1" in page.locator("#url-notice").inner_text() and url_params(page)["h"] == "3"


def test_a_link_to_an_impossible_problem_says_what_to_change(page):
    page.expected_console.append("status of 422")
    page.goto(f"{page.base}/?h=2&w=2&kh=5")
    page.wait_for_selector("#error:not([hidden])")
    assert "does not fit" in page.locator("main #error").inner_text()
    assert "Change the problem in the panel" in page.locator("main #error").inner_text()


# 5 -------------------------------------------------------------------------------------------
def zero_kind(g: Geo, u: int, t: int) -> str:
    """docs/conventions.md 4.4: grad_out_pad cell (u, t) holds grad_out, or a zero of the margin
    (outside the dilated grad_out) or one the stride inserted (inside it, between values)."""
    du, dt = u - g.top, t - g.left
    if not (0 <= du <= (g.Ho - 1) * g.sh and 0 <= dt <= (g.Wo - 1) * g.sw):
        return "margin"
    return "real" if du % g.sh == 0 and dt % g.sw == 0 else "gap"


def grad_x_zeros(g: Geo, h: int, v: int) -> dict:
    """The zeros the grad_x step of cell (h, v) multiplies, by kind (one kernel: F = 1)."""
    counts = {"margin": 0, "gap": 0}
    for p, q in product(range(g.KH), range(g.KW)):
        kind = zero_kind(g, h + p * g.dh, v + q * g.dw)
        if kind != "real":
            counts[kind] += 1
    return counts


def test_notes_and_legend_name_the_right_zeros(page):
    # stride 1: the left-out terms of Dx11 multiply the padding of grad_out, not inserted zeros
    open_page(page, "phase=grad_x&step=0")
    assert grad_x_zeros(WORKED, 0, 0) == {"margin": 3, "gap": 0}
    assert page.locator("#equation .zero-note").inner_text() == "3 more terms multiply padding zeros of grad_out and add 0."
    legend = page.locator("#legend-list").inner_text()
    assert "padding zero of grad_out (grad_out_pad's margin)" in legend
    assert "of x" not in legend and "inserted by the stride" not in legend
    margin = cell(page, "grad_out_pad", "0,0,0,0")
    assert "padding of grad_out" in margin.get_attribute("title") and "x" not in margin.get_attribute("title").split(":")[1]
    # stride 2 and padding 1: margin zeros and zeros the stride inserts, counted apart
    g = STRIDED_PADDED
    open_page(page, f"{g.query()}&values=integers&seed=1&phase=grad_x")
    legend = page.locator("#legend-list").inner_text()
    assert "zero inserted by the stride between grad_out values" in legend and "padding zero of grad_out" in legend
    for h, v in [(0, 0), (1, 1), (2, 3), (5, 5)]:
        k = h * g.W + v
        page.locator("#jump").fill(str(k + 1))
        page.locator("#jump").press("Enter")
        wait_until(page, f"document.querySelector('#stage .cell.current')?.dataset.idx === '{key(0, 0, h, v)}'")
        counts = grad_x_zeros(g, h, v)
        parts = [f"{counts[kind]} multipl{'y' if counts[kind] > 1 else 'ies'} {name if counts[kind] > 1 else one}"
                 for kind, name, one in (("margin", "padding zeros of grad_out", "a padding zero of grad_out"),
                                         ("gap", "zeros inserted by the stride", "a zero inserted by the stride"))
                 if counts[kind]]
        total = sum(counts.values())
        note = page.locator("#equation .zero-note").inner_text()
        if len(parts) == 2:
            assert note == f"{total} more terms add 0: {parts[0]}, {parts[1]}.", (h, v)
        else:
            assert note.startswith(f"{total} more term") and parts[0].split(" ", 1)[1].split(" ", 1)[1] in note, (h, v)
    gap = page.locator('#stage [data-tensor="grad_out_pad"].mark-gap').first
    assert "a zero the stride inserts between grad_out values" in gap.get_attribute("title")
    # forward with padding: the padding of x, and the legend says so (not grad_out's)
    switch_phase(page, "forward")
    assert page.locator("#equation .zero-note").inner_text() == "5 more terms multiply padding zeros of x and add 0."
    legend = page.locator("#legend-list").inner_text()
    assert "padding zero of x (x_pad's ring, no cell of x)" in legend and "grad_out" not in legend


# 6 -------------------------------------------------------------------------------------------
def pairs(pg, tensor: str) -> dict:
    """idx -> pair number(s) of the linked cells of ``tensor``."""
    return dict(pg.eval_on_selector_all(f'#stage [data-tensor="{tensor}"][data-pair]',
                                        "els => els.map(e => [e.dataset.idx, e.dataset.pair])"))


def highlighted_equations(pg) -> list:
    return pg.eval_on_selector_all("#equation-list > li.holds-hovered", "els => els.map(e => Number(e.dataset.step))")


def test_hover_pairs_each_output_with_the_weight_it_meets(page):
    open_page(page)
    g = WORKED
    for h, v in product(range(g.Hp), range(g.Wp)):
        cell(page, "x_pad", key(0, 0, h, v)).hover()
        outs, ws = pairs(page, "out"), pairs(page, "w")
        # docs/conventions.md: x_pad (h, v) meets w (p, q) in out (i, j) when i + p = h and j + q = v
        expect = {key(0, 0, i, j): key(0, 0, h - i, v - j) for i, j in product(range(g.Ho), range(g.Wo))
                  if 0 <= h - i < g.KH and 0 <= v - j < g.KW}
        assert set(outs) == set(expect)
        by_number = {number: idx for idx, number in ws.items()}
        assert {out: by_number[number] for out, number in outs.items()} == expect, (h, v)
        # the equations that hold x[h, v] (step k computes out row-major): exactly these outputs'
        assert highlighted_equations(page) == sorted(i * g.Wo + j for i, j in
                                                     (map(int, idx.split(",")[2:]) for idx in expect))
    # an output: each window cell with the weight it is multiplied by
    cell(page, "out", "0,0,1,0").hover()
    xs, ws = pairs(page, "x_pad"), pairs(page, "w")
    by_number = {number: idx for idx, number in ws.items()}
    assert {x: by_number[n] for x, n in xs.items()} == {key(0, 0, 1 + p, q): key(0, 0, p, q) for p in range(2) for q in range(2)}
    assert highlighted_equations(page) == [2]
    # the highlight is painted: the canvas over the w grid is coloured at a linked cell's centre
    painted = page.evaluate("""() => {
      const c = document.querySelector('#stage [data-tensor="w"][data-idx="0,0,0,0"]');
      const canvas = c.parentElement.querySelector('canvas.link-layer');
      const s = canvas.width / canvas.offsetWidth;
      return canvas.getContext('2d').getImageData((c.offsetLeft + c.offsetWidth / 2) * s, (c.offsetTop + c.offsetHeight / 2) * s, 1, 1).data[3];
    }""")
    assert painted > 0
    page.mouse.move(1, 1)
    assert feeds(page) == set() and pairs(page, "w") == {} and highlighted_equations(page) == []
    # keyboard focus pairs the same way
    cell(page, "x_pad", "0,0,1,1").focus()
    assert set(pairs(page, "out")) == {key(0, 0, i, j) for i, j in product(range(2), range(2))}


def test_tooltips_use_the_formulas_subscripts_beside_the_0_based_index(page):
    open_page(page)
    assert cell(page, "x_pad", "0,0,0,1").get_attribute("title") == "x12 = 1 (x_pad[0,0,0,1] = x[0,0,0,1], 0-based)"
    assert cell(page, "w", "0,0,1,0").get_attribute("title") == "w21 = 3 (w[0,0,1,0], 0-based)"
    assert cell(page, "out", "0,0,1,1").get_attribute("title") == "a22 = 4 (out[0,0,1,1], 0-based)"
    switch_phase(page, "grad_x")
    assert cell(page, "grad_out_pad", "0,0,1,2").get_attribute("title").startswith("Da12 = 1 (grad_out_pad[0,0,1,2] = grad_out[0,0,0,1]")
    assert cell(page, "w_rot", "0,0,0,0").get_attribute("title").startswith("w22 = -3".replace("-", MINUS))
    # several channels: all four subscripts
    open_page(page, f"{CHANNELS.query()}&values=integers&seed=1&phase=forward")
    assert cell(page, "w", "0,0,0,1").get_attribute("title").startswith("w1,1,1,2 = ")


# 7 -------------------------------------------------------------------------------------------
def test_im2col_of_the_tutorial_layer_shows_a_window_of_rows(page):
    open_page(page, f"{TUTORIAL}&phase=im2col")
    assert page.locator("#stage").bounding_box()["height"] < 1000  # it was ~5,750 px
    window = page.locator('figure[data-title="cols"] .rows-window')
    assert window.bounding_box()["height"] < 700
    where = page.locator('figure[data-title="cols"] .rows-position')
    assert where.inner_text().startswith("rows 1\u2013") and "of 196" in where.inner_text()
    page.locator("#jump").fill("101")  # out[0, 0, 7, 2]: row 101 of cols
    page.locator("#jump").press("Enter")
    wait_until(page, "document.querySelector('#stage .cell.current')?.dataset.idx === '0,0,7,2'")
    wait_until(page, "/rows (\\d+)/.test(document.querySelector('figure[data-title=\"cols\"] .rows-position').textContent)")
    first, last = map(int, re.search(r"rows (\d+)\u2013(\d+)", where.inner_text()).groups())
    assert first <= 101 <= last
    current_row = page.locator('#stage [data-tensor="cols"].in-step').first.bounding_box()
    box = window.bounding_box()
    assert box["y"] <= current_row["y"] and current_row["y"] + current_row["height"] <= box["y"] + box["height"]
    # out's window scrolled with it: the current output is in view
    out_box = page.locator('figure[data-title="out"] .rows-window').bounding_box()
    current = page.locator("#stage .cell.current").bounding_box()
    assert out_box["y"] <= current["y"] <= out_box["y"] + out_box["height"]


ONE_ROW = """() => {
  const stage = document.getElementById('stage');
  const row = stage.querySelector('.equation-row');
  const units = [...row.children].map(u => u.getBoundingClientRect());
  const first = units[0];
  const eq = [...row.querySelectorAll(':scope > .unit > .op')].map(o => o.getBoundingClientRect());
  return {
    sameLine: units.every(u => u.top < first.bottom && u.bottom > first.top) && units.every((u, k) => !k || u.left >= units[k - 1].right - 1),
    opsBesideGrids: eq.every(o => o.top < first.bottom && o.bottom > first.top),
    overflow: stage.scrollWidth - stage.clientWidth,
    cells: [...row.querySelectorAll('.grid')].map(g => parseFloat(g.style.getPropertyValue('--cell'))),
  };
}"""
SMALL_PRESETS = ("worked", "stride2_leftover", "dilation2", "rectangular", "channels")
MIN_CELL = 18  # grids.js: below this the row scrolls sideways instead of shrinking the numbers further


@pytest.mark.parametrize("width", [1280, 1920])
def test_every_preset_and_phase_keeps_operators_and_result_on_one_row(page, live_server, width):
    page.set_viewport_size({"width": width, "height": 900})
    presets = [p["name"] for p in httpx.get(f"{live_server.url}/api/v1/presets").json()]
    assert set(SMALL_PRESETS) | {"tutorial_layer"} <= set(presets)
    open_page(page)
    for name in presets:
        page.locator("#preset").select_option(name)
        wait_until(page, f"document.querySelector('#preset').value === '{name}' && document.querySelector('#stage .cell.current')")
        wait_ready(page)
        for phase in page.eval_on_selector_all("nav.phases button", "els => els.map(e => e.dataset.phase)"):
            if not page.locator(f'nav.phases [data-phase="{phase}"]').is_visible():
                continue  # a phase this kind of problem does not have
            switch_phase(page, phase)
            r = page.evaluate(ONE_ROW)
            assert r["sameLine"] and r["opsBesideGrids"], (name, phase, width)
            # a view fits the stage without scrolling sideways, or its cells are as small as they
            # go (the tutorial layer's im2col at 1,280 px: 57 columns of cells), and then it
            # scrolls, still on one row, rather than shrink the numbers past reading
            if r["overflow"] > 0:
                assert name not in SMALL_PRESETS and max(r["cells"]) <= MIN_CELL, (name, phase, width, r)
            assert page.evaluate(CLIPPED) == [], (name, phase, width)
    # the one view that does not fit 1,280 px: the tutorial layer's im2col
    if width == 1920:
        open_page(page, f"{TUTORIAL}&phase=im2col")
        assert page.evaluate(ONE_ROW)["overflow"] <= 0


SELECT_FITS = """() => [...document.querySelectorAll('select')].filter(s => s.offsetParent).flatMap(s =>
  [...s.options].map(o => {
    const probe = document.createElement('select');
    probe.style.cssText = getComputedStyle(s).cssText;
    probe.style.width = 'auto';
    probe.append(new Option(o.text));
    s.parentElement.append(probe);
    const need = probe.offsetWidth;
    probe.remove();
    return [s.id || s.name, o.text, need, s.offsetWidth];
  })).filter(([, , need, has]) => need > has + 0.5)"""


@pytest.mark.parametrize("width", [1280, 1920])
def test_selects_show_their_whole_text(page, width):
    page.set_viewport_size({"width": width, "height": 900})
    open_page(page, f"{CHANNELS.query()}&values=integers&seed=1")
    assert page.evaluate(SELECT_FITS) == []


# 8 -------------------------------------------------------------------------------------------
def test_all_channels_at_once(page, live_server):
    g = CHANNELS
    body = g.body(seed=1)
    arrays = httpx.post(f"{live_server.url}/api/v1/conv?im2col=false", json=body).json()
    x, w, b, go = arrays["x"], arrays["w"], arrays["b"], arrays["grad_out"]
    open_page(page, f"{g.query()}&values=integers&seed=1&phase=forward&step=5")
    toggle = page.locator("#all-channels")
    assert page.locator("#multiples-toggle").is_visible() and not page.locator("#multiples").is_visible()
    toggle.check()
    wait_until(page, "new URLSearchParams(location.search).get('all') === '1'")
    n, f, (i, j) = 0, 0, divmod(5, g.Wo)  # forward step 5 is out[0, 0, 1, 0] (Wo = 5)
    figures = page.locator("#multiples figure.multiple")
    assert figures.count() == g.C
    total = b[f]
    for c in range(g.C):
        fig = figures.nth(c)
        grids = fig.locator(".grid.mini")
        window = [float(v) for v in grids.nth(0).locator(".cell").evaluate_all("els => els.map(e => e.dataset.value)")]
        kernel = [float(v) for v in grids.nth(1).locator(".cell").evaluate_all("els => els.map(e => e.dataset.value)")]
        expect_window, partial = [], 0.0
        for p, q in product(range(g.KH), range(g.KW)):
            h, v = i + p - g.ph, j + q - g.pw
            value = x[n][c][h][v] if 0 <= h < g.H and 0 <= v < g.W else 0.0
            expect_window.append(value)
            partial += value * w[f][c][p][q]
        assert window == expect_window and kernel == [w[f][c][p][q] for p, q in product(range(g.KH), range(g.KW))]
        assert float(fig.locator(".multiple-sum strong").inner_text().replace(MINUS, "-")) == pytest.approx(partial)
        total += partial
    assert "Sum over c:" in page.locator(".multiples-total").inner_text()
    assert float(page.locator(".multiples-total strong").inner_text().replace(MINUS, "-")) == pytest.approx(total)
    # grad_x sums over the kernels (F = 3), grad_w over the samples (N = 2)
    switch_phase(page, "grad_x")
    assert figures.count() == g.F
    for k in range(g.F):  # grad_x step 0 is grad_x[0, 0, 0, 0]: kernel k's partial sum
        expect = sum(go[0][k][ii][jj] * w[k][0][pp][qq] for ii, jj, pp, qq in product(range(g.Ho), range(g.Wo), range(g.KH), range(g.KW))
                     if ii + pp - g.ph == 0 and jj + qq - g.pw == 0)
        assert float(figures.nth(k).locator(".multiple-sum strong").inner_text().replace(MINUS, "-")) == pytest.approx(expect)
    switch_phase(page, "forward")
    cell(page, "x_pad", "0,0,1,2").hover()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "channels_all.png"), full_page=True)
    switch_phase(page, "grad_w")
    assert figures.count() == g.N
    # one channel: no option
    open_page(page, "phase=forward&all=1")
    assert not page.locator("#multiples-toggle").is_visible() and not page.locator("#multiples").is_visible()


# 9 -------------------------------------------------------------------------------------------
def frame_of(pg, tensor: str) -> dict:
    return pg.evaluate(f"""() => {{
      const f = document.querySelector('#stage [data-tensor="{tensor}"]').parentElement.querySelector('.window-frame');
      const m = /translate\\(([-\\d.]+)px, ([-\\d.]+)px\\)/.exec(f.style.transform);
      return {{x: Number(m[1]), y: Number(m[2]), w: parseFloat(f.style.width), h: parseFloat(f.style.height),
               duration: getComputedStyle(f).transitionDuration, hidden: f.hidden}};
    }}""")


def pitch(pg, tensor: str, lead: str) -> float:
    a = cell(pg, tensor, f"{lead},0,0").bounding_box()
    b = cell(pg, tensor, f"{lead},0,1").bounding_box()
    return b["x"] - a["x"]


def test_the_window_moves(page):
    g = STRIDED_PADDED
    open_page(page, f"{g.query()}&values=integers&seed=1&phase=forward&step=0")
    first = frame_of(page, "x_pad")
    assert not first["hidden"] and float(first["duration"].split(",")[0].rstrip("s")) > 0
    step = pitch(page, "x_pad", "0,0")
    page.locator("#fwd").click()
    wait_until(page, "new URLSearchParams(location.search).get('step') === '1'")
    moved = frame_of(page, "x_pad")
    assert moved["x"] - first["x"] == pytest.approx(g.sw * step, abs=1) and moved["y"] == first["y"]
    # the frame spans the window: KH x KW cells, dilation spreading it
    assert first["w"] == pytest.approx(g.KW * step + 6 - (step - cell(page, "x_pad", "0,0,0,0").bounding_box()["width"]), abs=2)
    open_page(page, f"{DILATED.query()}&values=integers&seed=1&phase=forward&step=0")
    span = frame_of(page, "x_pad")
    width = cell(page, "x_pad", "0,0,0,0").bounding_box()["width"]
    assert span["w"] == pytest.approx((DILATED.dw * (DILATED.KW - 1)) * pitch(page, "x_pad", "0,0") + width + 6, abs=2)
    # reduced motion: the frame jumps
    page.emulate_media(reduced_motion="reduce")
    open_page(page, f"{g.query()}&values=integers&seed=1&phase=forward&step=0")
    assert {d.strip() for d in frame_of(page, "x_pad")["duration"].split(",")} == {"0s"}


# 10 ------------------------------------------------------------------------------------------
def test_the_update_step(page):
    # the worked example (docs/conventions.md): w = [[2, 1], [3, -3]], grad_w = [[-2, -10], [10, -6]], b = 2,
    # grad_b = 7. With lr 0.1 and weight decay 0.5: w' = w - 0.1 (grad_w + 0.5 w), b' = 2 - 0.1 * 7 = 1.3
    open_page(page, "phase=update&lr=0.1&weight_decay=0.5")
    expect = {"0,0,0,0": 2.1, "0,0,0,1": 1.95, "0,0,1,0": 1.85, "0,0,1,1": -2.25}
    for idx, value in expect.items():
        assert float(cell(page, "w_new", idx).get_attribute("data-value")) == pytest.approx(value)
    assert float(cell(page, "b_new", "0").get_attribute("data-value")) == pytest.approx(1.3)
    lines = page.locator("#equation .line").all_inner_texts()
    assert [t.replace("\n", "") for t in lines] == [f"w\u203211 = w11 {MINUS} lr\u00b7(Dw11 + wd\u00b7w11)",
                                                   f"= 2 {MINUS} 0.1\u00b7({MINUS}2 + 0.5\u00b72) = 2.1"]
    assert page.locator(".bias-update").inner_text().replace("\n", "").startswith(
        f"b\u20321 = b1 {MINUS} lr\u00b7Db1 = 2 {MINUS} 0.1\u00b77 = 1.3")
    assert page.locator('input[name="lr"]').input_value() == "0.1"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "update.png"), full_page=True)
    # each new value is linked to its old value and its gradient
    cell(page, "w_new", "0,0,1,0").hover()
    assert feeds(page) == {("w", "0,0,1,0"), ("grad_w", "0,0,1,0")}
    cell(page, "b_new", "0").hover()
    assert feeds(page) == {("b", "0"), ("grad_b", "0")}
    # the panel sets lr: the numbers follow (w'22 = -3 - 0.5 (-6 + 0.5 (-3)) = 0.75)
    page.locator('input[name="lr"]').fill("0.5")
    page.locator('input[name="lr"]').press("Tab")
    wait_until(page, "new URLSearchParams(location.search).get('lr') === '0.5'")
    wait_until(page, "document.querySelector('#stage [data-tensor=\"w_new\"][data-idx=\"0,0,1,1\"]')?.dataset.value === '0.75'")


# 11 ------------------------------------------------------------------------------------------
def test_where_grad_out_comes_from(page, live_server):
    open_page(page, "phase=grad_w")
    line = page.locator("#grad-out-origin")
    assert line.is_visible() and "what the next layer hands back" in line.inner_text()
    page.locator('figure[data-title="grad_out"] a.origin-link').click()
    assert page.evaluate("document.activeElement.id") == "grad-out-origin"
    # L = sum(out): grad_out is ones
    page.locator('select[name="loss"]').select_option("sum")
    wait_until(page, "new URLSearchParams(location.search).get('loss') === 'sum'")
    wait_until(page, "[...document.querySelectorAll('#stage [data-tensor=\"grad_out\"]')].every(c => c.dataset.value === '1')")
    assert "L = \u03a3 out" in line.inner_text() and "all ones" in line.inner_text()
    # L = 1/2 sum((out - target)^2): out and target drawn, grad_out = out - target cell by cell
    page.locator('select[name="loss"]').select_option("mse")
    wait_until(page, "document.querySelector('#origin-row [data-tensor=\"target\"]')")
    wait_ready(page)
    assert "grad_out = out \u2212 target" in line.inner_text()
    body = {**WORKED.body(seed=37), "loss": "mse"}
    solved = httpx.post(f"{live_server.url}/api/v1/conv?im2col=false", json=body).json()
    for i, j in product(range(2), range(2)):
        idx = key(0, 0, i, j)
        out = float(page.locator(f'#origin-row [data-tensor="out"][data-idx="{idx}"]').get_attribute("data-value"))
        target = float(page.locator(f'#origin-row [data-tensor="target"][data-idx="{idx}"]').get_attribute("data-value"))
        grad_out = float(cell(page, "grad_out", idx).get_attribute("data-value"))
        assert out == solved["out"][0][0][i][j] and target == solved["target"][0][0][i][j]
        assert grad_out == out - target
    cell(page, "grad_out", "0,0,0,0").hover()
    assert {("out", "0,0,0,0"), ("target", "0,0,0,0")} <= feeds(page)
    # forward reads no grad_out: no line
    switch_phase(page, "forward")
    assert not line.is_visible()
