"""The page in a real headless Chromium against a real server: each phase draws, hover and focus
link exactly the conventions' cells (computed in tests/page_helpers.py, not by the page or the server),
the phase buttons come from the registry, the player steps and scrubs, a URL restores its view,
the tutorial's layer loads and plays, edits and errors show, no console errors, no request
leaves 127.0.0.1. Saves screenshots of each phase to docs/screenshots/."""

from __future__ import annotations

import os
import time
from itertools import product
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from page_helpers import (CHANNELS, DILATED, STRIDED_PADDED, WORKED, Geo, drawn, forward_value, key, neighbours,
                          terms)

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
# Screenshots go to tests/artifacts/ (ignored by git); CONVVIZ_SCREENSHOTS=docs/screenshots refreshes the README's.
SHOTS = Path(os.environ.get("CONVVIZ_SCREENSHOTS") or Path(__file__).resolve().parent / "artifacts" / "screenshots")
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh page; fails the test on any console error, page error or request off 127.0.0.1."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    problems = []
    base = urlparse(live_server.url)

    def on_route(route):
        url = urlparse(route.request.url)
        if url.scheme in ("data", "blob") or (url.hostname == "127.0.0.1" and url.port == base.port):
            route.continue_()
        else:
            problems.append(f"request left the machine: {route.request.url}")
            route.abort()

    pg.route("**/*", on_route)
    pg.expected_console = []  # substrings of console errors a test provokes on purpose

    def on_console(m):
        if m.type == "error" and not any(e in m.text for e in pg.expected_console):
            problems.append(f"console error: {m.text}")

    pg.on("console", on_console)
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "") and problems.append(
        f"request failed: {r.url} {r.failure}"))
    pg.base = live_server.url
    yield pg
    context.close()
    assert not problems, problems


def wait_until(pg, expression: str, timeout: float = 15.0) -> None:
    """Polls ``expression`` (a JS expression) with page.evaluate: wait_for_function evaluates a
    string inside the page, which the page's CSP (script-src 'self') rightly forbids."""
    deadline = time.monotonic() + timeout
    while True:
        if pg.evaluate(f"() => Boolean({expression})"):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.02)


def open_page(pg, query: str = "") -> None:
    pg.goto(f"{pg.base}/{('?' + query) if query else ''}")
    wait_ready(pg)


def wait_ready(pg) -> None:
    """The view is drawn and the current step's equation shown."""
    pg.wait_for_selector("#stage .cell.current")
    pg.wait_for_selector("#equation .eq")


def drawn_cells(pg) -> set:
    return {tuple(c) for c in pg.eval_on_selector_all(
        "#stage [data-tensor]", "els => els.map(e => [e.dataset.tensor, e.dataset.idx])")}


def feeds(pg) -> set:
    return {tuple(c) for c in pg.eval_on_selector_all(
        "[data-feeds]", "els => els.map(e => [e.dataset.tensor, e.dataset.idx])")}


def cell(pg, tensor: str, idx: str):
    return pg.locator(f'#stage [data-tensor="{tensor}"][data-idx="{idx}"]')


def choose(cells: list, limit: int) -> list:
    """Up to ``limit`` cells spread over the list (first and last included)."""
    if len(cells) <= limit:
        return cells
    step = (len(cells) - 1) / (limit - 1)
    return [cells[round(k * step)] for k in range(limit)]


def check_linking(pg, g: Geo, phase: str, n: int, f: int, c: int, *, per_tensor: int = 6, scatter: bool = False):
    """The page draws the conventions' cells; hovering, then focusing, a cell marks exactly its term partners."""
    expected_cells = drawn(g, phase, n, f, c, scatter)
    assert drawn_cells(pg) == expected_cells
    near = neighbours(terms(g, phase, n, f, c, scatter))
    by_tensor: dict = {}
    for cell_ in sorted(expected_cells, key=lambda t: (t[0], [int(v) for v in t[1].split(",")])):
        by_tensor.setdefault(cell_[0], []).append(cell_)
    picked = [c_ for cells in by_tensor.values() for c_ in choose(cells, per_tensor)]
    for k, (tensor, idx) in enumerate(picked):
        target = cell(pg, tensor, idx)
        target.hover()
        assert feeds(pg) == near.get((tensor, idx), set()), f"hover {tensor}[{idx}] in {phase}"
        if k % 3 == 0:  # keyboard focus links the same cells (mouse moved away first)
            pg.mouse.move(1, 1)
            assert feeds(pg) == set()
            target.focus()
            assert feeds(pg) == near.get((tensor, idx), set()), f"focus {tensor}[{idx}] in {phase}"
            pg.evaluate("document.activeElement.blur()")
    pg.mouse.move(1, 1)
    assert feeds(pg) == set()


def phase_button(pg, phase: str):
    return pg.locator(f'[data-phase="{phase}"]')


def switch_phase(pg, phase: str):
    phase_button(pg, phase).click()
    wait_until(pg, f"new URLSearchParams(location.search).get('phase') === '{phase}'")
    wait_until(pg, "document.querySelector('#stage .cell.current') && document.querySelector('#equation .eq')")


def url_params(pg) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(pg.url).query).items()}


# ---------------------------------------------------------------------------------------------
def test_worked_example_every_phase_draws_links_and_is_saved(page):
    open_page(page)
    assert url_params(page)["h"] == "3" and url_params(page)["kh"] == "2"  # opens on the worked example
    assert page.locator('a[href="/docs"]').count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    for phase in ["forward", "grad_x", "grad_w", "grad_b", "im2col"]:
        if phase != "forward":
            switch_phase(page, phase)
        assert phase_button(page, phase).get_attribute("aria-pressed") == "true"
        check_linking(page, WORKED, phase, 0, 0, 0, per_tensor=16)
        if phase != "grad_b":  # (grad_b of one kernel has a single step)
            page.locator("#fwd").click()  # one step in: a window is outlined
            wait_until(page, "new URLSearchParams(location.search).get('step') === '1'")
        hover = {"forward": ("x_pad", "0,0,1,1"), "grad_x": ("grad_out_pad", "0,0,1,1")}.get(phase)
        if hover:  # the README's pictures show the pairing of a hovered cell
            cell(page, *hover).hover()
        page.wait_for_timeout(300)  # the window's frame has slid to the step
        page.screenshot(path=str(SHOTS / f"{phase}.png"), full_page=True)
        page.mouse.move(1, 1)
    switch_phase(page, "grad_x")
    page.locator("#scatter").check()
    wait_until(page, "new URLSearchParams(location.search).get('scatter') === '1'")
    wait_ready(page)
    check_linking(page, WORKED, "grad_x", 0, 0, 0, per_tensor=16, scatter=True)
    page.locator("#fwd").click()
    page.locator("#fwd").click()
    page.wait_for_selector(".scatter-list li")
    page.screenshot(path=str(SHOTS / "grad_x_scatter.png"), full_page=True)


def test_phase_buttons_come_from_the_registry(page, live_server):
    """The nav is built from GET /api/v1/phases: a button per phase that is no variant, in the
    registry's order and words; a variant is a toggle on its base's button, reachable by its own
    name in the URL or as base phase + toggle flag (the form the page writes)."""
    registry = httpx.get(f"{live_server.url}/api/v1/phases").json()
    # the worked example is a convolution with a zero border: the buttons of the phases that show it
    bases = [e for e in registry if not e["variant_of"] and "conv" in e["kinds"]]
    (scatter,) = [e for e in registry if e["variant_of"] == "grad_x"]
    open_page(page)
    buttons = page.eval_on_selector_all("nav.phases button:not([hidden])", "els => els.map(e => [e.dataset.phase, "
                                        "e.textContent, e.querySelector('small').textContent])")
    assert buttons == [[e["name"], f"{e['title']} {e['subtitle']}", e["subtitle"]] for e in bases]
    assert [b[0] for b in buttons] == ["forward", "grad_x", "grad_w", "grad_b", "update", "im2col"]
    toggle = page.locator(f"nav.phases label:has(#{scatter['toggle']})")
    assert toggle.inner_text().strip() == scatter["toggle_label"] and toggle.is_hidden()
    assert page.locator("#phase-explain").inner_text() == registry[0]["explain"]
    for query in ("phase=grad_x_scatter", "phase=grad_x&scatter=1"):
        open_page(page, query)
        assert page.locator("#scatter").is_checked() and toggle.is_visible()
        assert phase_button(page, scatter["variant_of"]).get_attribute("aria-pressed") == "true"
        assert page.locator('nav.phases [aria-pressed="true"]').count() == 1
        assert drawn_cells(page) == drawn(WORKED, "grad_x", 0, 0, 0, scatter=True)
        assert page.locator("#phase-explain").inner_text() == scatter["explain"]
        page.wait_for_selector(".scatter-list li")
        params = url_params(page)
        assert (params["phase"], params["scatter"]) == ("grad_x", "1")
    page.locator("#scatter").uncheck()  # back to the gather route
    wait_until(page, "!new URLSearchParams(location.search).has('scatter')")
    wait_until(page, "document.querySelector('#stage [data-tensor=\"w_rot\"]')")
    wait_ready(page)
    assert drawn_cells(page) == drawn(WORKED, "grad_x", 0, 0, 0)
    assert url_params(page)["phase"] == "grad_x" and toggle.is_visible()
    open_page(page, "phase=nonsense&scatter=1")  # an unknown phase falls back to forward
    assert phase_button(page, "forward").get_attribute("aria-pressed") == "true" and toggle.is_hidden()
    assert url_params(page)["phase"] == "forward" and "scatter" not in url_params(page)


def test_worked_example_formulas_are_the_tutorials(page):
    open_page(page, "phase=grad_x&step=4")
    eq = page.locator("#equation .line").first.inner_text()
    # Dx22 = Da11*w22 + Da12*w21 + Da21*w12 + Da22*w11 (docs/conventions.md, 1-based)
    assert eq.replace("\n", "") == "Dx22 = Da11\u00b7w22 + Da12\u00b7w21 + Da21\u00b7w12 + Da22\u00b7w11"
    items = page.locator("#equation-list > li")
    assert items.count() == 9  # the tutorial's nine Dx equations
    assert items.nth(0).inner_text().replace("\n", "").startswith("Dx11 = Da11\u00b7w11 =")


@pytest.mark.parametrize("name, g, sel", [
    ("strided_padded", STRIDED_PADDED, (0, 0, 0)),
    ("dilated", DILATED, (0, 0, 0)),
    ("channels", CHANNELS, (1, 2, 1)),
])
def test_linking_matches_math_md(page, name, g, sel):
    n, f, c = sel
    open_page(page, f"{g.query()}&values=integers&seed=1&sel={n},{f},{c}")
    for phase in ["forward", "grad_x", "grad_w", "grad_b", "im2col"]:
        if phase != "forward":
            switch_phase(page, phase)
        check_linking(page, g, phase, n, f, c, per_tensor=5)
    if name == "strided_padded":
        switch_phase(page, "grad_x")
        page.screenshot(path=str(SHOTS / "stride2_padding1_grad_x.png"), full_page=True)
        # inserted zeros look different from real values
        gaps = page.locator('#stage [data-tensor="grad_out_pad"].mark-gap')
        assert gaps.count() > 0
        real = page.locator('#stage [data-tensor="grad_out_pad"]:not(.mark-gap):not(.mark-margin)')
        assert real.count() == g.Ho * g.Wo
        assert gaps.first.evaluate("e => getComputedStyle(e).fontStyle") == "italic"
        assert real.first.evaluate("e => getComputedStyle(e).fontStyle") == "normal"
    if name == "dilated":
        switch_phase(page, "forward")
        page.screenshot(path=str(SHOTS / "dilation2_forward.png"), full_page=True)
    if name == "channels":
        switch_phase(page, "forward")
        # per-channel partial sums visibly add up to the output value
        chips = page.locator("#partials .chip")
        assert chips.count() == g.C + 1  # one per input channel, and the bias
        page.screenshot(path=str(SHOTS / "channels_forward.png"), full_page=True)


def test_player_steps_scrubs_and_keyboard(page, live_server):
    g = CHANNELS
    body = g.body(seed=1)
    arrays = httpx.post(f"{live_server.url}/api/v1/conv?im2col=false", json=body).json()
    open_page(page, f"{g.query()}&values=integers&seed=1&phase=forward")

    def current():
        return page.locator("#stage .cell.current").get_attribute("data-idx")

    def at(k):  # forward steps run row-major over out (N, F, Ho, Wo)
        n, rest = divmod(k, g.F * g.Ho * g.Wo)
        f, rest = divmod(rest, g.Ho * g.Wo)
        i, j = divmod(rest, g.Wo)
        return n, f, i, j

    def wait_step(k):
        wait_until(page, f"new URLSearchParams(location.search).get('step') === '{k}'")
        wait_until(page, f"document.querySelector('#stage .cell.current')?.dataset.idx === '{key(*at(k))}'")
        page.wait_for_selector("#equation .eq")

    assert current() == "0,0,0,0"
    page.locator("#fwd").click()
    wait_step(1)
    page.locator("#fwd").click()
    wait_step(2)
    page.locator("#back").click()
    wait_step(1)
    # the scrubber, into another kernel's slice: the selectors follow
    page.locator("#scrubber").fill("30")
    wait_step(30)
    assert page.locator("#sel-f").input_value() == str(at(30)[1])
    n, f, i, j = at(30)
    value = page.locator("#equation strong.value").inner_text().replace("\u2212", "-")
    assert float(value) == pytest.approx(forward_value(g, arrays["x"], arrays["w"], arrays["b"], n, f, i, j))
    # results after the current step are not drawn yet, earlier ones are
    later = cell(page, "out", key(n, f, i, (j + 1) % g.Wo) if j + 1 < g.Wo else key(n, f, i + 1, 0))
    assert "pending" in later.get_attribute("class")
    assert "pending" not in cell(page, "out", key(n, f, 0, 0)).get_attribute("class")
    # jump box (1-based) and keyboard: arrows step, space plays and pauses
    page.locator("#jump").fill("60")
    page.locator("#jump").press("Enter")
    wait_step(59)
    page.locator("h1").click()
    page.keyboard.press("ArrowRight")
    wait_step(60)
    page.keyboard.press("ArrowLeft")
    wait_step(59)
    page.locator("#speed").select_option("30")
    page.locator("h1").click()
    page.keyboard.press(" ")
    wait_until(page, "Number(new URLSearchParams(location.search).get('step')) >= 63")
    page.keyboard.press(" ")
    stopped = int(url_params(page)["step"])
    page.wait_for_timeout(300)
    assert int(url_params(page)["step"]) == stopped
    assert page.locator("#play").get_attribute("aria-label") == "play"


def test_url_restores_the_view(page):
    g = CHANNELS
    open_page(page, f"{g.query()}&values=ones&seed=4&phase=grad_w&step=5&sel=1,1,0")
    k = 5  # grad_w steps run row-major over w (F, C, KH, KW)
    f, rest = divmod(k, g.C * g.KH * g.KW)
    c, rest = divmod(rest, g.KH * g.KW)
    p, q = divmod(rest, g.KW)
    assert page.locator("#stage .cell.current").get_attribute("data-idx") == key(f, c, p, q)
    assert phase_button(page, "grad_w").get_attribute("aria-pressed") == "true"
    assert page.locator('select[name="values"]').input_value() == "ones"
    assert page.locator('input[name="C"]').input_value() == "2"
    assert page.locator("#jump").input_value() == "6"
    assert page.locator("#scrubber").input_value() == "5"
    assert page.locator("#sel-n").input_value() == "1"
    assert drawn_cells(page) == drawn(g, "grad_w", 1, f, c)
    params = url_params(page)
    assert (params["phase"], params["step"], params["values"], params["padding"]) == ("grad_w", "5", "ones", "1")


def test_tutorial_layer_loads_streams_and_plays(page):
    open_page(page)
    page.locator("#preset").select_option("tutorial_layer")
    wait_until(page, "new URLSearchParams(location.search).get('n') === '10'")
    wait_ready(page)
    assert page.locator('#stage [data-tensor="out"]').count() == 14 * 14
    assert page.locator("#step-count").inner_text() == "of 31,360"
    assert page.locator("#equation .more").count() == 2  # 288 terms: symbols and numbers are shortened
    assert page.locator("#partials .chip").count() == 32 + 1
    # far into the trace: only a window around the step is fetched, the slice follows the step
    page.locator("#jump").fill("5001")
    page.locator("#jump").press("Enter")
    n, rest = divmod(5000, 16 * 14 * 14)
    f, rest = divmod(rest, 14 * 14)
    i, j = divmod(rest, 14)
    wait_until(page, f"document.querySelector('#stage .cell.current')?.dataset.idx === '{key(n, f, i, j)}'")
    page.wait_for_selector("#equation .eq")
    assert page.locator("#sel-n").input_value() == str(n) and page.locator("#sel-f").input_value() == str(f)
    page.locator("#speed").select_option("10")
    page.locator("#play").click()
    wait_until(page, "Number(new URLSearchParams(location.search).get('step')) >= 5003")
    page.locator("#play").click()
    # hovering still links exactly (one channel drawn)
    g = Geo(10, 32, 14, 14, 16, 3, 3, ph=1, pw=1)
    near = neighbours(terms(g, "forward", n, f, 0))
    for idx in [key(n, 0, 0, 0), key(n, 0, 7, 7), key(n, 0, 15, 15)]:
        cell(page, "x_pad", idx).hover()
        assert feeds(page) == near.get(("x_pad", idx), set())
    page.screenshot(path=str(SHOTS / "tutorial_layer.png"), full_page=True)
    # grad_w of the layer: 1,960 terms per step still streams a window
    switch_phase(page, "grad_w")
    assert page.locator("#step-count").inner_text() == "of 4,608"


def test_edit_a_cell_and_errors_inline(page):
    page.expected_console.append("status of 422")  # the impossible problem below, refused by the API
    open_page(page)
    x_pad = cell(page, "x_pad", "0,0,1,1")
    x_pad.click()
    page.locator("#editor-input").fill("10")
    page.locator("#editor-input").press("Enter")
    wait_until(page, "new URLSearchParams(location.search).get('edit') === 'x@0,0,1,1=10'")
    wait_until(page, "document.querySelector('#stage [data-tensor=\"x_pad\"][data-idx=\"0,0,1,1\"]').textContent === '10'")
    x = [[[[float(cell(page, "x_pad", key(0, 0, h, v)).get_attribute("data-value"))
            for v in range(3)] for h in range(3)]]]
    w = [[[[float(cell(page, "w", key(0, 0, p, q)).get_attribute("data-value"))
            for q in range(2)] for p in range(2)]]]
    b = [float(cell(page, "b", "0").get_attribute("data-value"))]
    page.locator("#last").click()
    wait_until(page, "new URLSearchParams(location.search).get('step') === '3'")
    for i, j in product(range(2), range(2)):
        shown = float(cell(page, "out", key(0, 0, i, j)).get_attribute("data-value"))
        assert shown == pytest.approx(forward_value(WORKED, x, w, b, 0, 0, i, j))
    # an impossible problem: the API's message, inline
    page.locator('input[name="KH"]').fill("5")
    page.locator('input[name="KH"]').press("Tab")
    page.wait_for_selector("#error:not([hidden])")
    assert "does not fit" in page.locator("#error").inner_text()
    assert page.locator("main #error").is_visible()  # where the grids were (tests/test_page_teaching.py)
    page.locator('input[name="KH"]').fill("2")
    page.locator('input[name="KH"]').press("Tab")
    page.wait_for_selector("#error", state="hidden")


def test_api_docs_work_offline(page):
    """/docs runs the Swagger UI shipped in the package: no CDN, no console error, no CSP violation."""
    page.goto(page.base + "/docs")
    page.locator(".opblock").nth(4).wait_for(timeout=15000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("stream" in p.replace("\u200b", "") for p in paths), paths
    page.screenshot(path=str(SHOTS / "docs.png"))


def test_legible_and_linked_on_a_4k_screen(page):
    """A 3840-pixel-wide screen at 100% scaling: the page scales up (cells at least 1.9x as
    wide as at 1280x800) and hovering still links exactly the conventions' cells."""
    g = STRIDED_PADDED
    open_page(page, f"{g.query()}&values=integers&seed=1&phase=grad_x")
    width_1280 = cell(page, "grad_x", "0,0,1,1").bounding_box()["width"]
    page.set_viewport_size({"width": 3840, "height": 2160})
    wait_ready(page)
    assert cell(page, "grad_x", "0,0,1,1").bounding_box()["width"] >= 1.9 * width_1280
    check_linking(page, g, "grad_x", 0, 0, 0, per_tensor=4)
    page.screenshot(path=str(SHOTS / "grad_x_4k.png"))
