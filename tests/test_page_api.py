"""The page's endpoints (/api/v1/page/view/{phase}, /api/v1/page/scatter) against docs/conventions.md,
written independently in tests/page_helpers.py: the cells drawn, the cell links (term sets),
the marks on padding and inserted zeros, and the scatter route's running sums."""

from __future__ import annotations

from itertools import product

import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app

from page_helpers import (CHANNELS, DILATED, RECT_MIXED, STRIDED_PADDED, WORKED, Geo, drawn, forward_value,
                          grad_out_of_pad, grad_x_feeders, key, neighbours, scatter_grad_x, terms)

CASES = {"worked": WORKED, "strided_padded": STRIDED_PADDED, "dilated": DILATED, "channels": CHANNELS,
         "rect_mixed": RECT_MIXED}
PHASES = ["forward", "grad_x", "grad_w", "grad_b", "im2col"]


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


def get_view(client, g: Geo, phase, n=0, f=0, c=0, scatter=False, seed=0):
    r = client.post(f"/api/v1/page/view/{phase}", params={"n": n, "f": f, "c": c, "scatter": scatter},
                    json=g.body(seed=seed))
    assert r.status_code == 200, r.text
    return r.json()


def cells_of(view) -> dict:
    """id -> (tensor, idx) of every drawn cell."""
    out = {}
    for grid in view["grids"]:
        for k, idx in enumerate(grid["idx"]):
            out[grid["offset"] + k] = (grid["tensor"], idx)
    return out


def view_neighbours(view) -> dict:
    cells = cells_of(view)
    return neighbours([[cells[i] for i in term] for term in view["terms"]])


def slices(g: Geo):
    """A few (n, f, c) per case: the first and the last of each axis."""
    return sorted({(0, 0, 0), (g.N - 1, g.F - 1, g.C - 1), (g.N - 1, 0, g.C - 1)})


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("phase", PHASES)
def test_view_draws_and_links_what_math_md_says(client, case, phase):
    g = CASES[case]
    for n, f, c in slices(g):
        view = get_view(client, g, phase, n, f, c)
        cells = cells_of(view)
        assert len(cells) == len(set(cells.values())), "a cell is drawn twice"
        assert set(cells.values()) == drawn(g, phase, n, f, c)
        assert view_neighbours(view) == neighbours(terms(g, phase, n, f, c))


@pytest.mark.parametrize("case", CASES)
def test_scatter_view_links(client, case):
    g = CASES[case]
    for n, f, c in slices(g):
        view = get_view(client, g, "grad_x", n, f, c, scatter=True)
        assert set(cells_of(view).values()) == drawn(g, "grad_x", n, f, c, scatter=True)
        assert view_neighbours(view) == neighbours(terms(g, "grad_x", n, f, c, scatter=True))


@pytest.mark.parametrize("case", CASES)
def test_gather_links_equal_the_scatter_statement(client, case):
    """A grad_x cell's grad_out neighbours (through grad_out_pad's real cells) are exactly docs/conventions.md's
    scatter-side set i*sh + p*dh = h + ph: both routes link the same cells."""
    g = CASES[case]
    n, f, c = g.N - 1, g.F - 1, g.C - 1
    near = view_neighbours(get_view(client, g, "grad_x", n, f, c))
    for h, v in product(range(g.H), range(g.W)):
        linked = {cell for cell in near.get(("grad_x", key(n, c, h, v)), set()) if cell[0] == "grad_out"}
        assert linked == {cell for cell in grad_x_feeders(g, n, f, c, h, v) if cell[0] == "grad_out"}


def test_worked_example_dx22_is_the_tutorials(client):
    """Dx22 = Da11 w22 + Da12 w21 + Da21 w12 + Da22 w11 (docs/conventions.md's worked example, 1-based)."""
    near = view_neighbours(get_view(client, WORKED, "grad_x"))
    linked = near[("grad_x", "0,0,1,1")]
    assert {cell for cell in linked if cell[0] == "grad_out"} == {("grad_out", key(0, 0, i, j)) for i in (0, 1) for j in (0, 1)}
    assert {cell for cell in linked if cell[0] == "w"} == {("w", key(0, 0, p, q)) for p in (0, 1) for q in (0, 1)}
    # Dx11 = Da11 w11: one real grad_out in the gather window; the scatter route links exactly Da11, w11
    assert {cell for cell in near[("grad_x", "0,0,0,0")] if cell[0] == "grad_out"} == {("grad_out", "0,0,0,0")}
    scatter = view_neighbours(get_view(client, WORKED, "grad_x", scatter=True))
    assert scatter[("grad_x", "0,0,0,0")] == {("grad_out", "0,0,0,0"), ("w", "0,0,0,0")}


@pytest.mark.parametrize("case", ["strided_padded", "dilated", "rect_mixed"])
def test_marks_and_twins(client, case):
    g = CASES[case]
    grids = {gr["title"]: gr for gr in get_view(client, g, "grad_x")["grids"]}
    gp = grids["grad_out_pad"]
    for k, idx in enumerate(gp["idx"]):
        n, f, u, t = map(int, idx.split(","))
        real = grad_out_of_pad(g, n, f, u, t)
        assert (gp["marks"][k] == "") == (real is not None)
        assert gp["twin"][k] == (real[1] if real else None)
        if real is None:
            assert gp["values"][k] == 0
    wr = grids["w_rot"]
    for k, idx in enumerate(wr["idx"]):
        c, f, p, q = map(int, idx.split(","))
        assert wr["twin"][k] == key(f, c, g.KH - 1 - p, g.KW - 1 - q)

    xp = {gr["title"]: gr for gr in get_view(client, g, "forward")["grids"]}["x_pad"]
    rem_h = (g.H + 2 * g.ph - g.dh * (g.KH - 1) - 1) % g.sh
    rem_w = (g.W + 2 * g.pw - g.dw * (g.KW - 1) - 1) % g.sw
    for k, idx in enumerate(xp["idx"]):
        n, c, hp, wp = map(int, idx.split(","))
        h, v = hp - g.ph, wp - g.pw
        inside = 0 <= h < g.H and 0 <= v < g.W
        assert xp["twin"][k] == (key(n, c, h, v) if inside else None)
        unread = hp >= g.Hp - rem_h or wp >= g.Wp - rem_w
        assert xp["marks"][k] == ("" if inside and not unread else "pad" if not inside else "unread")


def test_forward_values_and_steps(client):
    g = CHANNELS
    body = g.body(seed=5)
    arrays = client.post("/api/v1/conv?im2col=false", json=body).json()
    view = client.post("/api/v1/page/view/forward", params={"n": 1, "f": 2, "c": 1}, json=body).json()
    out = next(gr for gr in view["grids"] if gr["title"] == "out")
    for k, idx in enumerate(out["idx"]):
        n, f, i, j = map(int, idx.split(","))
        assert out["values"][k] == pytest.approx(forward_value(g, arrays["x"], arrays["w"], arrays["b"], n, f, i, j))
        assert out["step"][k] == ((n * g.F + f) * g.Ho + i) * g.Wo + j  # row-major step order
    assert view["total"] == g.N * g.F * g.Ho * g.Wo
    assert view["terms_per_step"] == g.C * g.KH * g.KW
    assert view["first_step"] == ((1 * g.F + 2) * g.Ho + 0) * g.Wo + 0  # out[1, 2, 0, 0]


@pytest.mark.parametrize("case", ["worked", "strided_padded", "channels"])
def test_scatter_partials_accumulate_to_grad_x(client, case):
    g = CASES[case]
    body = g.body(seed=3)
    arrays = client.post("/api/v1/conv?im2col=false", json=body).json()
    n, c = g.N - 1, g.C - 1
    total = g.N * g.F * g.Ho * g.Wo
    page = client.post("/api/v1/page/scatter", params={"n": n, "c": c, "start": 0, "limit": total}, json=body).json()
    assert page["total"] == total and len(page["steps"]) == total
    for step in page["steps"]:
        k = step["index"]
        expect = scatter_grad_x(g, arrays["w"], arrays["grad_out"], upto=k + 1)[n][c]
        assert step["partial"] == pytest.approx([v for row in expect for v in row])
        nn, f, i, j = step["at"]
        assert step["value"] == arrays["grad_out"][nn][f][i][j]
        for t in step["terms"]:
            _, cc, p, q = t["w"]
            assert cc == c
            h, v = i * g.sh + p * g.dh - g.ph, j * g.sw + q * g.dw - g.pw
            assert t["grad_x"] == ([nn, c, h, v] if 0 <= h < g.H and 0 <= v < g.W else None)
            assert t["product"] == pytest.approx(arrays["grad_out"][nn][f][i][j] * arrays["w"][f][c][p][q])
    last = page["steps"][-1]["partial"]
    assert last == pytest.approx([v for row in arrays["grad_x"][n][c] for v in row])
    # a later window starts from the running sum of everything before it
    later = client.post("/api/v1/page/scatter", params={"n": n, "c": c, "start": total - 2, "limit": 2}, json=body).json()
    assert later["steps"][0]["partial"] == pytest.approx(page["steps"][total - 2]["partial"])


def test_im2col_shows_one_channel_when_cols_is_wide(client):
    g = Geo(1, 10, 5, 5, 2, 3, 3)  # C*KH*KW = 90 columns
    view = get_view(client, g, "im2col", 0, 0, 4)
    cols = next(gr for gr in view["grids"] if gr["tensor"] == "cols")
    assert cols["cols"] == 9
    assert {int(idx.split(",")[1]) for idx in cols["idx"]} == set(range(36, 45))
    assert "channel c=4" in view["notes"][0]


@pytest.mark.parametrize("params, fragment", [
    ({"n": 1}, "n must be between 0 and 0"),
    ({"c": 3}, "c must be between 0 and 0"),
    ({"f": -1}, "greater than or equal to 0"),
])
def test_view_refuses_a_slice_out_of_range(client, params, fragment):
    r = client.post("/api/v1/page/view/forward", params=params, json=WORKED.body())
    assert r.status_code == 422
    assert fragment in r.json()["error"]["message"]


def test_view_refuses_too_many_cells_and_bad_input(client):
    big = Geo(1, 1, 300, 300, 1, 3, 3)
    r = client.post("/api/v1/page/view/forward", json=big.body())
    assert r.status_code == 422 and "cells" in r.json()["error"]["message"]
    r = client.post("/api/v1/page/view/sideways", json=WORKED.body())
    assert r.status_code == 422
    r = client.post("/api/v1/page/view/forward", json={"x_shape": [1, 1, 2, 2], "w_shape": [1, 1, 3, 3]})
    assert r.status_code == 422 and "does not fit" in r.json()["error"]["message"]
    r = client.post("/api/v1/page/scatter", params={"start": 99}, json=WORKED.body())
    assert r.status_code == 422 and "start must be between 0 and 4" in r.json()["error"]["message"]
