"""The structure docs/ARCHITECTURE.md promises, checked: layers that point one way, one phase
registry read by the traces, the views and the API, the problem service without HTTP, every knob
in Limits, and a cache key that no field of the problem can slip past."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app
from convviz.page import BUILDERS
from convviz.problem import ARRAY_FIELDS, PRESETS, Limits, ProblemError, ProblemIn, problem_key, resolve
from convviz.trace import PHASE_LIST, PHASES, TRACE_PHASES, Trace

PACKAGE = Path(__file__).resolve().parent.parent / "convviz"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The convviz modules ``path`` imports, anywhere in the file (function-local ones too)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith("convviz")}
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {n for n in found if n in modules and n != here}


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_no_import_cycle_in_the_package():
    # packages import their own modules from __init__; a cycle between two real modules is a defect
    state: dict[str, int] = {}

    def visit(mod, path):
        state[mod] = 1
        for dep in GRAPH[mod]:
            if dep.startswith(mod + ".") or mod.startswith(dep + ".") and dep.count(".") < mod.count("."):
                continue  # a package and its own modules
            if state.get(dep) == 1:
                pytest.fail("import cycle: " + " -> ".join(path + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[mod] = 2

    for mod in sorted(GRAPH):
        if mod not in state:
            visit(mod, [mod])


LAYER = {"engine": 0, "trace": 1, "problem": 2, "checking": 3, "page": 3, "api": 4, "app": 5, "cli": 5}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LAYER.get(parts[1]) if len(parts) > 1 else None


def test_layers_point_one_way():
    """engine <- trace <- problem <- page <- api <- app / cli: nothing imports a layer above it."""
    for mod, deps in GRAPH.items():
        here = layer_of(mod)
        for dep in deps:
            there = layer_of(dep)
            if here is not None and there is not None:
                assert there <= here, f"{mod} (layer {here}) imports {dep} (layer {there})"


def test_cli_imports_no_router_and_the_problem_service_no_http():
    for dep in GRAPH["convviz.cli"]:
        assert not dep.startswith("convviz.api"), dep
    web = ("fastapi", "starlette", "uvicorn")
    for path in [*(PACKAGE / "problem").glob("*.py"), *(PACKAGE / "trace").glob("*.py"),
                 *(PACKAGE / "engine").glob("*.py"), *(PACKAGE / "page").glob("*.py"),
                 *(PACKAGE / "checking").glob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(n.split(".")[0] in web for n in names), f"{path.name} imports {names}"


def test_printing_a_trace_loads_no_router():
    code = ("import sys, io, contextlib; from convviz.cli import main; buf = io.StringIO()\n"
            "out = type('O', (), {'buffer': io.BytesIO(), 'write': lambda s, t: None, 'flush': lambda s: None})()\n"
            "sys.stdout = out; rc = main(['trace', 'grad_x', 'worked']); sys.stdout = sys.__stdout__\n"
            "assert rc == 0 and out.buffer.getvalue().count(b'\\n') == 11, (rc, out.buffer.getvalue()[:200])\n"
            "print(sorted(m for m in sys.modules if m.startswith(('convviz.api', 'fastapi'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# one registry ---------------------------------------------------------------------------------------
def test_one_registry_feeds_traces_views_and_the_api():
    assert set(BUILDERS) == set(PHASES)
    assert TRACE_PHASES == ("forward", "transposed_forward", "transposed_scatter", "grad_x", "grad_x_scatter",
                            "grad_x_pad", "fold", "transposed_grad_x", "grad_w", "transposed_grad_w", "grad_b", "update")
    # a problem of each kind (issue 9): a zero border, a border of copies, a transposed convolution
    bodies = {"conv": PRESETS["channels"]["problem"], "conv_mode": PRESETS["reflect"]["problem"],
              "transposed": PRESETS["transposed_upsample"]["problem"]}
    with TestClient(create_app()) as client:
        served = client.get("/api/v1/phases").json()
        assert [e["name"] for e in served] == [p.name for p in PHASE_LIST]
        assert [e["name"] for e in served if e["traced"]] == list(TRACE_PHASES)
        for entry in served:
            for kind in set(bodies) - set(entry["kinds"]):  # a phase that does not show a kind refuses it
                refused = client.post(f"/api/v1/page/view/{entry['name']}", json=bodies[kind])
                assert refused.status_code == 422 and "does not show" in refused.text, refused.text
            body = bodies[entry["kinds"][0]]
            view = client.post(f"/api/v1/page/view/{entry['name']}", json=body)
            assert view.status_code == 200, view.text
            grids = {g["title"] for g in view.json()["grids"]}
            layout = {item for item in entry["layout"] for item in (item if isinstance(item, list) else [item])}
            assert grids <= layout, f"{entry['name']}: grids {grids} not all placed by the layout {layout}"
            page = client.post(f"/api/v1/trace/{entry['name']}?limit=2", json=body)
            assert page.status_code == (200 if entry["traced"] else 422), page.text
            if entry["traced"]:
                assert page.json()["total"] == view.json()["total"]


def test_the_scatter_view_by_its_old_and_new_names_draws_the_same():
    with TestClient(create_app()) as client:
        body = PRESETS["channels"]["problem"]
        old = client.post("/api/v1/page/view/grad_x?scatter=true&n=1&f=2&c=1", json=body).json()
        new = client.post("/api/v1/page/view/grad_x_scatter?n=1&f=2&c=1", json=body).json()
        assert old.pop("phase") == "grad_x" and new.pop("phase") == "grad_x_scatter"
        assert old == new and new["scatter"] is True


# every knob in Limits ----------------------------------------------------------------------------
def test_every_knob_is_a_limit_with_env_and_endpoint():
    env = {"CONVVIZ_MAX_VIEW_CELLS": "10", "CONVVIZ_WORK_THREADS": "3", "CONVVIZ_STREAM_THREADS": "2",
           "CONVVIZ_MAX_SCATTER_STEPS": "4"}
    limits = Limits.from_env(env)
    assert (limits.max_view_cells, limits.work_threads, limits.stream_threads, limits.max_scatter_steps) == (10, 3, 2, 4)
    with TestClient(create_app(limits)) as client:
        assert client.get("/api/v1/limits").json()["work_threads"] == 3
        r = client.post("/api/v1/page/view/forward", json=PRESETS["worked"]["problem"])
        assert r.status_code == 422 and "max_view_cells" not in r.text  # 10 cells: message says at most 10
        assert "draws at most 10" in r.json()["error"]["message"]
        r = client.post("/api/v1/page/scatter?limit=5", json=PRESETS["worked"]["problem"])
        assert r.status_code == 422 and "max_scatter_steps" in r.json()["error"]["message"]
        assert r.json()["error"]["loc"] == ["query", "limit"]
    with pytest.raises(ValueError, match="work_threads must be >= 1"):
        Limits.from_env({"CONVVIZ_WORK_THREADS": "0"})


def test_serve_has_a_flag_for_every_limit():
    from convviz.cli import build_parser

    args = build_parser().parse_args(["serve", "--work-threads", "4", "--max-view-cells", "99"])
    assert (args.work_threads, args.max_view_cells) == (4, 99)


# the cache key ----------------------------------------------------------------------------------
OTHER_VALUE = {
    "x": [[1.0, 2.0], [3.0, 5.0]], "w": [[1.0, -1.0]], "b": [2.0], "grad_out": [[1.0], [2.0]],
    "x_shape": [1, 1, 3, 4], "w_shape": [1, 1, 2, 1], "values": "normal", "seed": 9,
    "stride": [1, 2], "padding": [0, 1], "dilation": [2, 1],
    "lr": 0.5, "weight_decay": 0.1, "loss": "mse", "target": [[1.0, 2.0], [3.0, 4.0]],
    "groups": 2, "padding_mode": "reflect", "transposed": True, "output_padding": 1,
}


def test_every_field_of_the_problem_changes_the_cache_key():
    assert set(OTHER_VALUE) == set(ProblemIn.model_fields), "a new field of the problem needs a case here"
    generated = {"x_shape": [1, 1, 3, 3], "w_shape": [1, 1, 2, 2]}
    explicit = {"x": [[1.0, 2.0], [3.0, 4.0]], "w": [[1.0, 1.0]], "b": [0.0], "grad_out": [[1.0], [1.0]]}

    def key(raw):
        problem = ProblemIn.model_validate(raw)
        if all(getattr(problem, n) is None for n in ARRAY_FIELDS):
            return problem_key(problem)
        return problem_key(problem, resolve(problem, Limits()))

    for name, value in OTHER_VALUE.items():
        base = explicit if name in ARRAY_FIELDS else generated
        if name in ("stride", "padding", "dilation"):
            base = {"x_shape": [1, 1, 6, 6], "w_shape": [1, 1, 2, 2]}
        assert key({**base, name: value}) != key(base), name
    # the same arrays written two ways share a key; other values do not
    assert key({"x": [[1, 2], [3, 4]], "w": [[1, 1]]}) == key({"x": [[[[1.0, 2.0], [3.0, 4.0]]]], "w": [[1, 1]]})
    assert key({"x": [[1, 2], [3, 4]], "w": [[1, 1]]}) != key({"x": [[1, 2], [3, 4.5]], "w": [[1, 1]]})


def test_problem_errors_name_their_place():
    with pytest.raises(ProblemError) as err:
        resolve(ProblemIn.model_validate({"x_shape": [1, 1, 3, 3], "w_shape": [1, 1, 2, 2], "stride": 0}), Limits())
    assert err.value.code == "invalid_problem" and "stride" in err.value.message
    tr = Trace(resolve(ProblemIn.model_validate(PRESETS["worked"]["problem"]), Limits()), "forward")
    from convviz.problem import check_page

    with pytest.raises(ProblemError) as err:
        check_page(tr, 99, 1, Limits(), paged=True)
    assert (err.value.code, err.value.param) == ("invalid_query", "start")


# geometry's index maps against the artifacts built by placement ----------------------------------
@pytest.mark.parametrize("stride,padding,dilation,H,W,KH,KW", [
    ((1, 1), (0, 0), (1, 1), 3, 3, 2, 2), ((2, 3), (1, 2), (1, 2), 7, 9, 3, 2), ((3, 2), (4, 1), (2, 1), 2, 5, 2, 3),
])
def test_index_maps_agree_with_the_artifacts(stride, padding, dilation, H, W, KH, KW):
    from convviz.engine import Geometry, dilate_and_pad, pad_input

    g = Geometry.from_shapes((1, 1, H, W), (1, 1, KH, KW), stride=stride, padding=padding, dilation=dilation)
    x = np.arange(1, H * W + 1, dtype=float).reshape(1, 1, H, W)
    x_pad = pad_input(x, g)
    hp, wp = np.indices((g.Hp, g.Wp))
    inside, h, v = g.x_pad_to_x(hp, wp)
    assert np.array_equal(inside, x_pad[0, 0] != 0)
    assert np.array_equal(x_pad[0, 0][inside], x[0, 0][h[inside], v[inside]])
    grad_out = np.arange(1, g.Ho * g.Wo + 1, dtype=float).reshape(1, 1, g.Ho, g.Wo)
    grad_out_pad, real = dilate_and_pad(grad_out, g)
    u, t = np.indices((g.Hg, g.Wg))
    real2, i, j = g.grad_out_pad_to_grad_out(u, t)
    assert np.array_equal(real2, real)
    assert np.array_equal(grad_out_pad[0, 0][real], grad_out[0, 0][i[real], j[real]])
    for p in range(KH):
        for q in range(KW):
            rows, cols = g.tap_slices(p, q)
            ii, jj = np.indices((g.Ho, g.Wo))
            assert np.array_equal(x_pad[0, 0][rows, cols], x_pad[0, 0][g.tap(ii, jj, p, q)])
