"""The page with every configuration of issue 9, in real headless Chromium against a real server:
the controls and URL parameters for groups, padding (pair, four sides, same, valid), padding
mode, transposed and output_padding; the phase buttons of each kind of problem; the fold view
(a cell of x collecting from its mirrored copies); the transposed forward's cells against the
definition (each input cell stamps the kernel at i*stride - padding); the duality link, whose
convolution's grad_x is this forward's out without the bias; the group structure and the
selectors that respect it. Screenshots at 1,280 and 1,920 px go to SHOTS (docs/screenshots with
CONVVIZ_SCREENSHOTS=docs/screenshots)."""

from __future__ import annotations

import numpy as np
import pytest

from test_page import SHOTS, browser, cell, feeds, open_page, page, url_params, wait_ready, wait_until  # noqa: F401

pytestmark = pytest.mark.browser

DEPTHWISE = "n=1&c=3&h=5&w=5&f=3&kh=3&kw=3&stride=1&padding=1&dilation=1&groups=3&values=integers&seed=6"
REFLECT = "n=1&c=1&h=4&w=4&f=1&kh=3&kw=3&stride=1&padding=1&dilation=1&padding_mode=reflect&values=integers&seed=8"
UPSAMPLE = ("n=1&c=1&h=4&w=4&f=1&kh=3&kw=3&stride=2&padding=1&dilation=1&transposed=1&output_padding=1"
            "&values=integers&seed=10")


def visible_phases(pg) -> list[str]:
    return pg.eval_on_selector_all("nav.phases button:not([hidden])", "bs => bs.map(b => b.dataset.phase)")


def view_of(pg) -> dict:
    """Each drawn cell's value, by (tensor, index)."""
    cells = pg.eval_on_selector_all("#stage [data-tensor]",
                                    "els => els.map(e => [e.dataset.tensor, e.dataset.idx, e.dataset.value])")
    return {(t, i): float(v) for t, i, v in cells if v not in (None, "")}


def test_each_kind_of_problem_shows_its_phases(page):
    open_page(page, DEPTHWISE)
    assert visible_phases(page) == ["forward", "grad_x", "grad_w", "grad_b", "update", "im2col"]
    page.select_option("#preset", "reflect")
    wait_until(page, "new URLSearchParams(location.search).get('padding_mode') === 'reflect'")
    wait_ready(page)
    assert visible_phases(page) == ["forward", "grad_x_pad", "fold", "grad_w", "grad_b", "update", "im2col"]
    page.locator('[data-phase="grad_x_pad"]').click()
    wait_until(page, "new URLSearchParams(location.search).get('phase') === 'grad_x_pad'")
    page.select_option("#preset", "transposed_upsample")
    wait_until(page, "new URLSearchParams(location.search).get('transposed') === '1'")
    wait_ready(page)
    assert visible_phases(page) == ["transposed_forward", "transposed_grad_x", "transposed_grad_w", "grad_b", "update"]
    # grad_x's first stage was on screen: the transposed problem shows its own grad_x
    assert url_params(page)["phase"] == "transposed_grad_x"


@pytest.mark.parametrize("query, fields, geometry", [
    ("padding=same&kh=2&kw=2", {"padding": "same"}, "padding top 0, bottom 1, left 0, right 1"),
    ("padding=1,0,2,1", {"padding": "1,0,2,1"}, "padding top 1, bottom 0, left 2, right 1"),
    ("padding=valid", {"padding": "valid"}, "padding 0,0"),
    ("padding=1&padding_mode=circular", {"padding": "1", "padding_mode": "circular"}, "padding 1,1 (circular)"),
    # a negative side crops, in the modes that copy x (as PyTorch's F.pad): rows cropped, columns mirrored
    ("padding=-1,1&padding_mode=reflect", {"padding": "-1,1", "padding_mode": "reflect"}, "x_pad 3\u00d77"),
    ("groups=2&c=4&f=2", {"groups": "2"}, "groups 2"),
    ("transposed=1&stride=2&output_padding=1&kh=3&kw=3", {"output_padding": "1"}, "output_padding 1,1"),
])
def test_url_parameters_fill_the_controls_and_reach_the_server(page, query, fields, geometry):
    base = dict(item.split("=") for item in "n=1&c=2&h=5&w=5&f=2&kh=3&kw=3&stride=1&dilation=1&values=integers&seed=1"
                .split("&"))
    base.update(item.split("=") for item in query.split("&"))
    open_page(page, "&".join(f"{k}={v}" for k, v in base.items()))
    for name, value in fields.items():
        assert page.locator(f'#problem-form [name="{name}"]').input_value() == value, name
    assert page.locator('#problem-form [name="transposed"]').is_checked() == ("transposed=1" in query)
    assert geometry in page.inner_text("#geometry")
    assert not page.is_visible("#error")
    again = url_params(page)
    for key_value in query.split("&"):
        key, value = key_value.split("=")
        assert again[key] == value, key


def test_controls_make_a_transposed_problem_and_refuse_what_pytorch_refuses(page):
    page.expected_console = ["status of 422"]  # the refused problem, on purpose
    open_page(page, UPSAMPLE)
    form = "#problem-form"
    page.fill(f'{form} [name="output_padding"]', "2")
    page.locator(f'{form} [name="output_padding"]').dispatch_event("change")
    page.wait_for_selector("#error:not([hidden])")
    assert "output_padding must be smaller than the stride or the dilation" in page.inner_text("#error")
    page.fill(f'{form} [name="output_padding"]', "0")
    page.locator(f'{form} [name="output_padding"]').dispatch_event("change")
    wait_until(page, "document.querySelector('#error').hidden")
    wait_ready(page)
    assert "out 1\u00d71\u00d77\u00d77" in page.inner_text("#geometry")  # (4-1)2 - 2 + 2 + 0 + 1
    page.locator(f'{form} [name="transposed"]').uncheck()
    wait_until(page, "!new URLSearchParams(location.search).has('transposed')")
    wait_ready(page)
    assert page.locator(f'{form} [name="output_padding"]').is_disabled()
    assert visible_phases(page)[0] == "forward"
    page.fill(f'{form} [name="groups"]', "2")
    page.locator(f'{form} [name="groups"]').dispatch_event("change")
    page.wait_for_selector("#error:not([hidden])")
    assert "groups must be at least 1 and divide C = 1" in page.inner_text("#error")


def test_fold_shows_a_cell_of_x_collecting_its_mirrored_copies(page):
    """Reflect padding 1 on a 4x4 x: x[1][1] (0-based) is copied at x_pad (0,0), (0,2), (2,0) and is itself
    at (2,2); hovering its grad_x cell lights those four cells of grad_x_pad and of x_pad, nothing else."""
    open_page(page, REFLECT + "&phase=fold&step=5")
    want = {(t, f"0,0,{r},{c}") for t in ("grad_x_pad", "x_pad") for r, c in ((0, 0), (0, 2), (2, 0), (2, 2))}
    cell(page, "grad_x", "0,0,1,1").hover()
    assert feeds(page) == want
    values = view_of(page)
    assert values[("grad_x", "0,0,1,1")] == sum(values[("grad_x_pad", i)] for t, i in want if t == "grad_x_pad")
    # the border cell x_pad (0,1) copies x[1][1]? no: it mirrors row 1, column 1 -> x[1][1] is (0,0)'s; (0,1) is x[1][0]
    cell(page, "grad_x", "0,0,1,0").hover()
    assert feeds(page) == {(t, f"0,0,{r},{c}") for t in ("grad_x_pad", "x_pad") for r, c in ((0, 1), (2, 1))}
    assert "x_{22}" not in page.inner_text("#equation") and "Dx" in page.inner_text("#equation")
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"fold_reflect_{width}.png"), full_page=True)


def test_transposed_forward_reads_the_cells_the_definition_says(page):
    """out[u, t] of ConvTranspose2d collects x[i, j] * w[p, q] wherever i*stride - padding + p = u (and
    likewise t): hovering an out cell lights exactly those x cells, computed here by loops."""
    open_page(page, UPSAMPLE + "&phase=transposed_forward")
    s, pad, K, H = 2, 1, 3, 4
    for u, t in ((0, 0), (3, 4), (7, 7), (4, 1)):
        want = {f"0,0,{i},{j}" for i in range(H) for j in range(H) for p in range(K) for q in range(K)
                if i * s - pad + p == u and j * s - pad + q == t}
        cell(page, "out", f"0,0,{u},{t}").hover()
        got = {idx for tensor, idx in feeds(page) if tensor == "x"}
        assert got == want, (u, t)
    values = view_of(page)
    x = np.array([[values[("x", f"0,0,{i},{j}")] for j in range(4)] for i in range(4)])
    w = np.array([[values[("w", f"0,0,{p},{q}")] for q in range(3)] for p in range(3)])
    out = np.zeros((8, 8)) + values[("b", "0")]
    for i in range(4):
        for j in range(4):
            for p in range(3):
                for q in range(3):
                    u, t = i * s - pad + p, j * s - pad + q
                    if 0 <= u < 8 and 0 <= t < 8:
                        out[u, t] += x[i, j] * w[p, q]
    assert all(values[("out", f"0,0,{u},{t}")] == out[u, t] for u in range(8) for t in range(8))
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"transposed_forward_{width}.png"), full_page=True)


def test_the_duality_link_opens_the_conv_whose_grad_x_this_is(page):
    open_page(page, UPSAMPLE + "&phase=transposed_forward")
    out = {idx: v for (t, idx), v in view_of(page).items() if t == "out"}
    bias = view_of(page)[("b", "0")]
    assert "exactly the grad_x of a convolution" in page.inner_text("#dual")
    page.click("#dual-link")
    wait_until(page, "new URLSearchParams(location.search).get('phase') === 'grad_x'")
    wait_ready(page)
    params = url_params(page)
    assert params["h"] == "8" and params["w"] == "8" and "transposed" not in params
    grad_x = {idx: v for (t, idx), v in view_of(page).items() if t == "grad_x"}
    assert grad_x.keys() == out.keys()
    assert all(np.isclose(grad_x[k], out[k] - bias) for k in out)


def test_groups_show_their_structure_and_keep_the_kernel_in_the_channels_group(page):
    open_page(page, DEPTHWISE + "&phase=forward")
    assert "kernel 0 sees channel 0; kernel 1 sees channel 1; kernel 2 sees channel 2" in page.inner_text("#geometry")
    page.select_option("#sel-c", "2")
    wait_until(page, "document.querySelector('#sel-f').value === '2'")
    wait_ready(page)
    assert cell(page, "w", "2,0,0,0").count() == 1 and cell(page, "x_pad", "0,2,0,0").count() == 1
    page.select_option("#sel-f", "1")
    wait_until(page, "document.querySelector('#sel-c').value === '1'")
    assert url_params(page)["sel"] == "0,1,1"
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"depthwise_forward_{width}.png"), full_page=True)


@pytest.mark.parametrize("preset, phase", [("same_even", "forward"), ("circular", "fold"),
                                           ("transposed_odd", "transposed_forward"), ("depthwise", "im2col")])
def test_presets_draw_without_errors(page, preset, phase):
    open_page(page)
    page.select_option("#preset", preset)
    wait_until(page, f"document.querySelector('#preset-description').textContent.length > 10")
    wait_ready(page)
    if phase != url_params(page)["phase"]:
        page.locator(f'[data-phase="{phase}"]').click()
        wait_until(page, f"new URLSearchParams(location.search).get('phase') === '{phase}'")
        wait_ready(page)
    assert not page.is_visible("#error")
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{preset}_{phase}_{width}.png"), full_page=True)


def test_negative_padding_is_a_crop_in_the_copying_modes_only(page):
    """Typed in the panel: -1 with reflect is accepted (x_pad has two rows fewer than x);
    with zeros it is refused in the panel, saying where negative sides are allowed."""
    page.expected_console = ["status of 422"]
    open_page(page, "n=1&c=1&h=5&w=5&f=1&kh=3&kw=3&stride=1&dilation=1&values=integers&seed=1&padding_mode=reflect")
    form = "#problem-form"
    page.fill(f'{form} [name="padding"]', "-1")
    page.locator(f'{form} [name="padding"]').dispatch_event("change")
    wait_until(page, "new URLSearchParams(location.search).get('padding') === '-1'")
    wait_ready(page)
    assert "x_pad 3\u00d73" in page.inner_text("#geometry") and not page.is_visible("#error")
    page.select_option(f'{form} [name="padding_mode"]', "zeros")
    page.wait_for_selector("#error:not([hidden])")
    assert "negative sides crop only in the reflect, replicate and circular modes" in page.inner_text("#error")
