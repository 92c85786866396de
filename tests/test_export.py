"""Exports and the code for a view (issue 11, part 2).

In process, against the API's own answers and independent truths: the .npz and .json hold the
problem and every tensor of ``/api/v1/conv`` (and the JSON's problem solves again to the same
answer); the trace download is the stream's bytes; the SVG draws every cell of the view as text,
with the step's cells those of docs/conventions.md's terms (tests/page_helpers.py); the code
snippets, run as they are (PyTorch and NumPy + convviz), rebuild the problem and its results.
In the browser: each export button downloads what the API answers, the PNG is the SVG at twice
its size, and the Code dialog shows the snippets.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from urllib.parse import urlparse

import numpy as np
import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app
from convviz.problem import PRESETS
from convviz.trace import PHASES
from page_helpers import WORKED, key, terms
from test_page import SHOTS, browser, open_page, page  # noqa: F401 - the page tests' fixtures: a page that
# fails its test on any console error or request leaving 127.0.0.1

MINUS = "\u2212"
SVG = "{http://www.w3.org/2000/svg}"
WORKED_BODY = PRESETS["worked"]["problem"]
MIXED = {"x_shape": [2, 3, 7, 6], "w_shape": [4, 3, 3, 2], "stride": [2, 1], "padding": [1, 0], "dilation": [1, 2],
         "values": "normal", "seed": 11}
EXPLICIT = {"x": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "w": [[1, -1], [2, 0]], "grad_out": [[1, 2], [-1, 1]]}
TENSORS = ("x", "w", "b", "grad_out", "out", "grad_x", "grad_w", "grad_b", "x_pad", "grad_out_pad",
           "grad_out_pad_mask", "w_rot", "cols", "w_mat")


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


def conv_of(client, body) -> dict:
    r = client.post("/api/v1/conv", json=body)
    assert r.status_code == 200, r.text
    return r.json()


# .npz and .json ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [WORKED_BODY, MIXED, EXPLICIT], ids=["worked", "mixed", "explicit"])
def test_npz_holds_the_problem_and_every_tensor(client, body):
    r = client.post("/api/v1/export/problem.npz", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith('attachment; filename="convviz-problem-x')
    archive = np.load(io.BytesIO(r.content), allow_pickle=False)
    expected = conv_of(client, body)
    assert set(archive.files) == set(TENSORS) | {"stride", "padding", "dilation"}
    for name in TENSORS:
        np.testing.assert_array_equal(archive[name], np.array(expected[name]), err_msg=name)
    geo = expected["geometry"]
    for name in ("stride", "padding", "dilation"):
        assert archive[name].tolist() == geo[name]


@pytest.mark.parametrize("body", [WORKED_BODY, MIXED, EXPLICIT], ids=["worked", "mixed", "explicit"])
def test_json_holds_the_problem_and_every_tensor_and_solves_again(client, body):
    r = client.post("/api/v1/export/problem.json", json=body)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    exported = r.json()
    expected = conv_of(client, body)
    assert exported["geometry"] == expected["geometry"]
    for name in TENSORS:
        got = exported["problem"][name] if name in ("x", "w", "b", "grad_out") else exported["tensors"][name]
        assert got == expected[name], name
    # the exported problem is a body: solved again, the same answer, byte for byte
    again = client.post("/api/v1/conv", json=exported["problem"])
    assert again.content == client.post("/api/v1/conv", json=body).content


def test_overflowing_results_are_left_out_and_named(client):
    body = {"x": [[1e308, 1e308], [1, 1]], "w": [[1], [1]]}  # grad_w = 2e308: overflows
    archive = np.load(io.BytesIO(client.post("/api/v1/export/problem.npz", json=body).content), allow_pickle=False)
    named = archive["overflow"].tolist()
    assert "grad_w" not in archive.files and "grad_w" in named and not {"out", "grad_x", "grad_b"} & set(named)
    assert archive["out"].tolist() == [[[[1e308, 1e308]]]]
    exported = client.post("/api/v1/export/problem.json", json=body).json()
    assert exported["overflow"] == named and exported["tensors"]["grad_w"] is None


# trace ---------------------------------------------------------------------------------------------------
# the phases of a convolution with a zero border; the others (issue 9) in tests/test_configs_trace.py
@pytest.mark.parametrize("phase", [p for p in PHASES if "conv" in PHASES[p].kinds])
def test_trace_download_is_the_stream(client, phase):
    r = client.post(f"/api/v1/export/trace/{phase}.jsonl", json=MIXED)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/jsonl")
    assert r.headers["content-disposition"] == (
        f'attachment; filename="convviz-{phase}-trace-x2x3x7x6-w4x3x3x2-s21-p10-d12.jsonl"')
    events = [json.loads(line) for line in r.text.splitlines()]
    plays = PHASES[phase].plays
    stream = client.post(f"/api/v1/trace/{plays}/stream", json=MIXED).text.splitlines()
    assert r.text.splitlines()[1:] == stream[1:]  # every step, and the end event
    assert events[0]["phase"] == phase and events[0]["total"] == events[-1]["count"] == len(events) - 2


# SVG -----------------------------------------------------------------------------------------------------
def page_text(v: float, digits: int) -> str:
    """How the page writes a value (format.js), written again here from its rules."""
    if float(v).is_integer():
        text = str(int(v))
    else:
        text = f"{v:.{digits}f}"
    return text.replace("-", MINUS) if float(text) != 0 else text.lstrip("-")


def svg_cells(svg: str) -> dict:
    """(tensor, idx) -> (class, text) of every cell drawn."""
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    cells = {}
    for grid in root.iter(SVG + "g"):
        if "tensor" not in (grid.get("class") or "").split():
            continue
        for cell in grid.findall(SVG + "g"):
            text = cell.find(SVG + "text")
            cells[(grid.get("data-tensor"), cell.get("data-idx"))] = (cell.get("class"), text.text)
    return cells


def test_svg_draws_every_cell_as_text_with_the_steps_terms(client):
    r = client.post("/api/v1/export/view/forward.svg", json=WORKED_BODY, params={"step": 0})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "<image" not in r.text and "foreignObject" not in r.text  # text as text, no picture of it
    cells = svg_cells(r.text)
    solved = conv_of(client, WORKED_BODY)
    x, w, b, out = (np.array(solved[k]) for k in ("x", "w", "b", "out"))
    expected = {("x_pad", key(0, 0, i, j)): x[0, 0, i, j] for i in range(3) for j in range(3)}
    expected |= {("w", key(0, 0, p, q)): w[0, 0, p, q] for p in range(2) for q in range(2)}
    expected |= {("b", key(0)): b[0]} | {("out", key(0, 0, i, j)): out[0, 0, i, j] for i in range(2) for j in range(2)}
    assert set(cells) == set(expected)
    for cell_, value in expected.items():
        assert cells[cell_][1] == page_text(value, 2), cell_
    # step 0 computes out[0,0,0,0]; its terms (docs/conventions.md) read a 2x2 window, w and b
    step_terms = [t for t in terms(WORKED, "forward", 0, 0, 0) if t[0] == ("out", "0,0,0,0")]
    in_step = {c for t in step_terms for c in t[1:]}
    assert {c for c, (cls, _) in cells.items() if "in-step" in cls.split()} == in_step
    assert [c for c, (cls, _) in cells.items() if "current" in cls.split()] == [("out", "0,0,0,0")]
    # the title says what it is
    title = ET.fromstring(r.text).find(SVG + "title").text
    assert "forward" in title and "x 1\u00d71\u00d73\u00d73" in title and "step 1 of 4" in title


@pytest.mark.parametrize("phase", [p for p in PHASES if "conv" in PHASES[p].kinds])
def test_svg_of_every_phase_matches_the_page_view(client, phase):
    params = {"n": 1, "f": 2, "c": 1}
    view = client.post(f"/api/v1/page/view/{phase}", json=MIXED, params=params).json()
    r = client.post(f"/api/v1/export/view/{phase}.svg", json=MIXED, params=params)
    assert r.status_code == 200, r.text
    cells = svg_cells(r.text)
    drawn = {(g["tensor"], idx): v for g in view["grids"] for idx, v in zip(g["idx"], g["values"])}
    assert set(cells) == set(drawn)
    titles = {t.text for t in ET.fromstring(r.text).iter(SVG + "text")}
    for grid in view["grids"]:
        assert any(t and t.startswith(grid["title"] + " ") for t in titles), grid["title"]
    for grid in view["grids"]:
        digits = 2 if max(grid["rows"], grid["cols"]) <= 6 else 1  # the page's: 2 decimals in its largest cells
        for idx, value in zip(grid["idx"], grid["values"]):
            assert cells[(grid["tensor"], idx)][1] == page_text(value, digits), (grid["tensor"], idx, value)


def test_svg_refuses_a_step_beyond_the_trace(client):
    r = client.post("/api/v1/export/view/forward.svg", json=WORKED_BODY, params={"step": 4})
    err = r.json()["error"]
    assert r.status_code == 422 and err["loc"] == ["query", "step"] and "got 4" in err["message"]


# the page's form posts ----------------------------------------------------------------------------------
def test_form_posts_only_from_this_servers_page(client):
    form = {"problem": json.dumps(WORKED_BODY), "step": "1"}
    same = client.post("/api/v1/export/view/forward.svg", data=form, headers={"origin": "http://testserver"})
    direct = client.post("/api/v1/export/view/forward.svg", json=WORKED_BODY, params={"step": 1})
    assert same.status_code == 200 and same.content == direct.content  # the other fields join the query
    for origin in ("http://evil.example", "http://testserver.evil.example", None):
        r = client.post("/api/v1/export/view/forward.svg", data=form, headers={"origin": origin} if origin else {})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", origin
    # a form without a problem field is refused like any body that is not JSON
    r = client.post("/api/v1/export/problem.npz", data={"x": "1"}, headers={"origin": "http://testserver"})
    assert r.status_code == 422


# code ------------------------------------------------------------------------------------------------------
RUNNER = textwrap.dedent("""
    import json, runpy, sys
    ns = runpy.run_path(sys.argv[1])
    out = {}
    for name in ("x", "w", "b", "grad_out", "out", "grad_x", "grad_w", "grad_b", "cols"):
        if name in ns:
            v = ns[name]
            v = v.detach().numpy() if hasattr(v, "detach") else v
            out[name] = v.tolist()
    print("@@" + json.dumps(out))
""")

def run_snippet(tmp_path, code: str, name: str) -> tuple[dict, str]:
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    done = subprocess.run([sys.executable, str(runner), str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    printed, _, data = done.stdout.rpartition("@@")
    return json.loads(data), printed


CODE_CASES = [
    ("worked-inline", WORKED_BODY, None, "inline"),
    ("mixed-seeded", MIXED, None, "generated"),
    ("seeded-with-edits", MIXED, "x@1,2,6,5=7.25;w@3,0,2,1=-4;grad_out@0,1,1,1=0.5;b@2=3", "generated"),
    ("explicit", EXPLICIT, None, "inline"),
    ("ones", {"x_shape": [1, 2, 9, 9], "w_shape": [2, 2, 3, 3], "values": "ones", "padding": 2}, None, "generated"),
]


def page_problem(client, body, edit):
    """The problem the page solves with these typed cells: the generated arrays, edited."""
    if not edit:
        return body
    solved = conv_of(client, body)
    arrays = {k: np.array(solved[k]) for k in ("x", "w", "b", "grad_out")}
    for item in edit.split(";"):
        target, value = item.split("=")
        tensor, idx = target.split("@")
        arrays[tensor][tuple(int(i) for i in idx.split(","))] = float(value)
    return {**{k: v.tolist() for k, v in arrays.items()},
            **{k: body[k] for k in ("stride", "padding", "dilation") if k in body}}


@pytest.mark.parametrize("name, body, edit, values", CODE_CASES, ids=[c[0] for c in CODE_CASES])
@pytest.mark.parametrize("phase", ["forward", "grad_x", "im2col"])
def test_numpy_snippet_rebuilds_the_problem_exactly(client, tmp_path, name, body, edit, values, phase):
    params = {"n": 0, "f": 0, "c": 0, **({"edit": edit} if edit else {})}
    r = client.post(f"/api/v1/export/code/{phase}", json=body, params=params)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["values"] == values
    got, printed = run_snippet(tmp_path, answer["numpy"], "numpy_snippet")
    expected = conv_of(client, page_problem(client, body, edit))
    for tensor in ("x", "w", "b", "grad_out", "out", "grad_x", "grad_w", "grad_b"):
        assert got[tensor] == expected[tensor], tensor  # the same engine: bit for bit
    viewed = {"forward": "out", "grad_x": "grad_x", "im2col": "cols"}[phase]
    assert f"{viewed} =" in printed
    if phase == "im2col":
        assert got["cols"] == expected["cols"]


@pytest.mark.parametrize("name, body, edit, values", CODE_CASES, ids=[c[0] for c in CODE_CASES])
def test_pytorch_snippet_rebuilds_the_problem(client, tmp_path, name, body, edit, values):
    pytest.importorskip("torch")
    phase = "grad_w" if name != "worked-inline" else "im2col"
    params = {"edit": edit} if edit else {}
    answer = client.post(f"/api/v1/export/code/{phase}", json=body, params=params).json()
    assert "import torch" in answer["pytorch"]
    got, printed = run_snippet(tmp_path, answer["pytorch"], "torch_snippet")
    expected = conv_of(client, page_problem(client, body, edit))
    for tensor in ("x", "w", "b", "grad_out"):
        assert got[tensor] == expected[tensor], tensor  # the inputs exactly
    for tensor in ("out", "grad_x", "grad_w", "grad_b"):  # PyTorch's float64 results, to rounding
        np.testing.assert_allclose(got[tensor], expected[tensor], rtol=1e-10, atol=1e-10, err_msg=tensor)
    if phase == "im2col":
        np.testing.assert_array_equal(got["cols"], expected["cols"])
    assert ("cols =" if phase == "im2col" else "grad_w =") in printed


def test_small_problems_write_every_value(client):
    answer = client.post("/api/v1/export/code/forward", json=WORKED_BODY).json()
    x = conv_of(client, WORKED_BODY)["x"][0][0]
    row = "[" + ", ".join(str(int(v)) for v in x[1]) + "]"
    assert row in answer["numpy"] and row in answer["pytorch"]
    assert "default_rng" not in answer["numpy"] and "seed" not in answer["numpy"]


def test_large_problems_are_regenerated_from_the_seed(client):
    answer = client.post("/api/v1/export/code/forward", json=PRESETS["tutorial_layer"]["problem"]).json()
    assert answer["values"] == "generated"
    for code in (answer["numpy"], answer["pytorch"]):
        assert "np.random.default_rng([seed, k])" in code and "kind='normal', seed=0" in code
        assert len(code) < 4000  # shapes and a seed, not 70,000 numbers
        assert "(10, 32, 14, 14)" in code


@pytest.mark.parametrize("edit, message", [("x@9,9,9,9=1", "outside"), ("q@0=1", "x, w, b or grad_out"),
                                            ("x@0,0,0,0=nan", "finite"), ("nonsense", "tensor@i,j,k,l=value")])
def test_bad_edits_are_refused(client, edit, message):
    r = client.post("/api/v1/export/code/forward", json=WORKED_BODY, params={"edit": edit})
    assert r.status_code == 422 and message in r.json()["error"]["message"]
    assert r.json()["error"]["loc"] == ["query", "edit"]


# in the browser ----------------------------------------------------------------------------------------------
browser_only = pytest.mark.browser


def download(pg, button: str):
    with pg.expect_download() as info:
        pg.click(f'#export button[data-export="{button}"]')
    d = info.value
    return d.suggested_filename, open(d.path(), "rb").read()


def api(live_server, path, body, **params):
    import httpx

    r = httpx.post(live_server.url + path, json=body, params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r


@browser_only
def test_export_buttons_download_what_the_api_answers(page, live_server):
    open_page(page, "phase=grad_x&step=2")
    name, data = download(page, ".npz")
    assert name.endswith(".npz")
    archive = np.load(io.BytesIO(data), allow_pickle=False)
    expected = api(live_server, "/api/v1/conv", WORKED_BODY).json()
    for tensor in TENSORS:
        np.testing.assert_array_equal(archive[tensor], np.array(expected[tensor]), err_msg=tensor)
    name, data = download(page, ".json")
    assert json.loads(data) == api(live_server, "/api/v1/export/problem.json", WORKED_BODY).json()
    name, data = download(page, "trace .jsonl")
    assert name.startswith("convviz-grad_x-trace") and data == api(live_server, "/api/v1/export/trace/grad_x.jsonl",
                                                                   WORKED_BODY).content
    name, data = download(page, "view .svg")
    assert data == api(live_server, "/api/v1/export/view/grad_x.svg", WORKED_BODY, n=0, f=0, c=0, step=2).content
    assert b"step 3 of 9" in data


@browser_only
def test_png_is_the_svg_at_twice_its_size(page, live_server):
    open_page(page, "phase=forward&step=1")
    svg = api(live_server, "/api/v1/export/view/forward.svg", WORKED_BODY, n=0, f=0, c=0, step=1).text
    root = ET.fromstring(svg)
    width, height = int(root.get("width")), int(root.get("height"))
    name, data = download(page, "view .png")
    assert name.endswith(".png") and name.startswith("convviz-forward-view")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    png_w, png_h = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (png_w, png_h) == (2 * width, 2 * height)
    assert len(data) > 5000  # drawn, not blank


@browser_only
def test_code_dialog_shows_the_snippets_of_the_view(page, live_server):
    open_page(page, "phase=grad_w&edit=x@0,0,1,1=9")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"export_bar_{width}.png"))
    page.click('#export button[data-export="Code"]')
    page.wait_for_selector("#code-dialog[open]")
    generated = dict(WORKED_BODY, stride=1, padding=0, dilation=1)
    expected = api(live_server, "/api/v1/export/code/grad_w", generated, n=0, f=0, c=0,
                   edit="x@0,0,1,1=9").json()
    code = page.inner_text("#code-dialog pre code")
    assert code.strip() == expected["pytorch"].strip()
    assert "[1, 9, -3]" in code and "grad_w =" in code  # x[0, 0, 1] = [1, -2, -3] with the typed 9
    page.click('#code-dialog [data-lang="numpy"]')
    assert page.inner_text("#code-dialog pre code").strip() == expected["numpy"].strip()
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"code_dialog_{width}.png"))
    page.click("#code-dialog .code-actions button:has-text('Close')")
    assert not page.is_visible("#code-dialog")
    assert urlparse(page.url).hostname == "127.0.0.1"
