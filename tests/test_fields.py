"""The JSON text of traces (issue 12): floats written by orjson read back bit for bit and as the
values the previous writer (``repr``, the standard library's ``json``) gave; the ``fields``
selection of the trace endpoints, the stream and ``convviz trace``.

The truths: Python's own ``repr``/``float`` round trip and ``json.dumps`` of the trace's records
(``Trace.steps``, dicts built without the writer), restricted to the fields asked for.
"""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app
from convviz.cli import main as cli_main
from convviz.problem import Limits, ProblemError, ProblemIn, Solved, resolve
from convviz.problem.jsonl import StepWriter, array_json, float_texts, select_fields
from convviz.trace import PHASES, TRACE_PHASES, Convolution, Trace


def bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.int64)


def special_floats() -> np.ndarray:
    rng = np.random.default_rng(12)
    random_bits = rng.integers(-2**63, 2**63 - 1, size=200_000, dtype=np.int64).view(np.float64)
    decades = 10.0 ** np.arange(-323, 309)
    return np.concatenate([
        random_bits[np.isfinite(random_bits)],  # every exponent, subnormals included
        decades, -decades, decades[:-1] * np.pi, decades / 3,
        rng.integers(-10**6, 10**6, 10_000).astype(np.float64),  # integers as floats
        [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1e308,
         np.finfo(np.float64).max, -np.finfo(np.float64).max, 2.0**53, 2.0**53 + 2, 9007199254740993.0,
         1e16, 1e-5, 2e-5, 1e-7, 0.1, 1 / 3, 6.0, -3.0],
    ])


def test_float_text_reads_back_bit_for_bit_and_as_repr_did():
    values = special_floats()
    texts = float_texts(values)
    assert len(texts) == len(values)
    parsed = np.array([json.loads(t) for t in texts], dtype=np.float64)
    assert np.array_equal(bits(parsed), bits(values))  # -0.0 stays -0.0, subnormals stay themselves
    assert np.array_equal(bits([float(t) for t in texts]), bits(values))
    # the previous writer: repr, as json.dumps writes floats
    assert np.array_equal(bits([json.loads(repr(v)) for v in values.tolist()]), bits(parsed))
    number = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")  # RFC 8259's number
    assert all(number.fullmatch(t) for t in texts)


def test_integers_as_floats_stay_floats():
    assert float_texts(np.array([6.0, -3.0, 0.0, 1e16])) == [b"6.0", b"-3.0", b"0.0", b"1e+16"]


def test_array_json_is_the_nested_lists_json_dumps_wrote():
    rng = np.random.default_rng(3)
    arr = rng.standard_normal((2, 3, 4, 5)) * 10.0 ** rng.integers(-9, 9, (2, 3, 4, 5))
    arr[0, 0, 0, :3] = [-0.0, 5e-324, 1e308]
    got = json.loads(array_json(arr))
    want = json.loads(json.dumps(arr.tolist()))
    assert np.array_equal(bits(got), bits(want)) and np.array(got).shape == arr.shape
    assert json.loads(array_json(np.array([[True, False]]))) == [[True, False]]
    assert json.loads(array_json(arr.transpose(3, 2, 1, 0))) == json.loads(json.dumps(arr.transpose(3, 2, 1, 0).tolist()))
    with pytest.raises(ValueError):
        array_json(np.array([1.0, math.inf]))


# --------------------------------------------------------------------------------------------
# the writer against the records, every phase
# --------------------------------------------------------------------------------------------

def problem(values="normal", phase=None, **hyper) -> Convolution:
    """A problem the phase shows (issue 9: the fold's phases a border of copies, the transposed
    ones a transposed convolution)."""
    body = {"x_shape": [2, 3, 6, 5], "w_shape": [2, 3, 3, 2], "values": values, "seed": 4, **hyper}
    kinds = PHASES[phase].kinds if phase else ("conv",)
    if "conv" not in kinds and "conv_mode" in kinds:
        body["padding_mode"] = "reflect"
    elif "conv" not in kinds:
        body.update(transposed=True, w_shape=[3, 2, 3, 2])
    return resolve(ProblemIn.model_validate(body), Limits())


def same(a, b) -> bool:
    """JSON values equal, floats bit for bit (so -0.0 differs from 0.0)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, float) and isinstance(b, float) and bits(a) == bits(b)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("phase", TRACE_PHASES)
@pytest.mark.parametrize("values", ["normal", "integers"])
def test_writer_text_is_the_records_as_json_dumps_writes_them(phase, values):
    conv = problem(values, phase, stride=[2, 1], padding=1)
    conv.x[0, 0, 0, 0] = -0.0  # a signed zero travels too
    trace = Trace(conv, phase)
    lines = [line for block in StepWriter(trace).json_lines(0, len(trace)) for line in block]
    previous = [json.loads(json.dumps(rec)) for rec in trace.steps()]  # repr floats: the previous writer
    assert len(lines) == len(previous)
    for line, want in zip(lines, previous):
        assert same(json.loads(line), want)


def restricted(record: dict, step: set, terms: set) -> dict:
    out = {k: v for k, v in record.items() if k in step and k != "terms"}
    if terms:
        out["terms"] = [{k: v for k, v in term.items() if k in terms} for term in record["terms"]]
    return out


SELECTIONS = [
    "at,value,terms.x,terms.w", "index", "terms.product", "terms", "value,terms.x_value,terms.product",
    "bias,at", "terms.w,index", "at , value", "index,at,value,bias,terms",
]


@pytest.mark.parametrize("spec", SELECTIONS)
def test_fields_select_exactly_those_fields_in_canonical_order(spec):
    conv = problem(padding=1)
    trace = Trace(conv, "forward")
    names = {s.strip() for s in spec.split(",")}
    terms = {"x_pad", "x", "x_value", "w", "w_value", "product"} if "terms" in names else \
        {n[6:] for n in names if n.startswith("terms.")}
    writer = StepWriter(trace, select_fields(trace, spec))
    records = trace.steps(3, 9)
    got = [json.loads(line) for block in writer.json_lines(3, 9) for line in block]
    assert len(got) == len(records)
    for g, rec in zip(got, records):
        assert same(g, restricted(rec, names, terms))


@pytest.mark.parametrize("phase", TRACE_PHASES)
def test_every_allowed_field_alone_is_that_field_alone(phase):
    trace = Trace(problem(phase=phase, padding=(1, 0), dilation=[1, 2]), phase)
    record = trace.steps(1, 2)[0]
    allowed = ["index", "at", "value", "terms"] + (["bias"] if "bias" in record else []) + \
        ["terms." + k for k in record["terms"][0]]
    for name in allowed:
        got = json.loads(next(StepWriter(trace, select_fields(trace, name)).json_lines(1, 2))[0])
        if name.startswith("terms."):
            assert same(got, {"terms": [{name[6:]: t[name[6:]]} for t in record["terms"]]}), name
        else:
            assert same(got, {name: record[name]}), name


def test_unknown_fields_are_refused_naming_the_allowed_ones():
    trace = Trace(problem(), "grad_w")
    with pytest.raises(ProblemError) as err:
        select_fields(trace, "at,bias,terms.x,terms.w,terms.nope")  # grad_w: no bias, no w in a term
    e = err.value
    assert e.code == "invalid_query" and e.param == "fields"
    assert "unknown fields 'bias', 'terms.w', 'terms.nope' for a grad_w step" in e.message
    for allowed in ("index", "at", "value", "terms", "terms.grad_out", "terms.x_pad", "terms.x_value", "terms.product"):
        assert allowed in e.message
    with pytest.raises(ProblemError):
        select_fields(trace, "terms.")


def test_solved_keeps_one_writer_per_selection():
    entry = Solved(problem())
    a = entry.writer("forward", "at,terms.x")
    assert entry.writer("forward", " terms.x , at") is a  # the same selection, spelled otherwise
    assert entry.writer("forward") is entry.writer("forward", None) is not a


# --------------------------------------------------------------------------------------------
# the endpoints and the CLI
# --------------------------------------------------------------------------------------------

BODY = {"x_shape": [2, 3, 6, 5], "w_shape": [2, 3, 3, 2], "padding": 1, "values": "normal", "seed": 4}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def test_page_with_fields(client):
    full = client.post("/api/v1/trace/forward?start=2&limit=5", json=BODY).json()
    r = client.post("/api/v1/trace/forward?start=2&limit=5&fields=at,value,terms.x,terms.w", json=BODY)
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == full["total"] and page["start"] == 2 and len(page["steps"]) == 5
    for got, rec in zip(page["steps"], full["steps"]):
        assert same(got, restricted(rec, {"at", "value"}, {"x", "w"}))


def test_stream_with_fields(client):
    full = [json.loads(line) for line in client.post("/api/v1/trace/grad_x/stream?limit=7", json=BODY).text.splitlines()]
    r = client.post("/api/v1/trace/grad_x/stream?limit=7&fields=index,terms.grad_out,terms.w", json=BODY)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines[0]["event"] == "meta" and lines[0]["fields"] == "index,terms.grad_out,terms.w"
    assert lines[0]["tensors"] == full[0]["tensors"]
    assert lines[-1] == {"event": "end", "count": 7} == full[-1]
    for got, rec in zip(lines[1:-1], full[1:-1]):
        assert same(got, {"event": "step", **restricted(rec, {"index"}, {"grad_out", "w"})})


@pytest.mark.parametrize("path", ["/api/v1/trace/forward", "/api/v1/trace/forward/stream"])
def test_unknown_fields_are_a_422_listing_the_allowed_ones(client, path):
    r = client.post(path + "?fields=at,x,terms.bogus", json=BODY)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_query" and err["loc"] == ["query", "fields"]
    assert "'x'" in err["message"] and "'terms.bogus'" in err["message"]
    assert "allowed: index, at, value, bias, terms, terms.x_pad, terms.x, terms.x_value, terms.w" in err["message"]


def test_cli_unknown_fields_exit_2_with_the_allowed_ones(capsys):
    assert cli_main(["trace", "forward", "worked", "--fields", "at,nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convviz: fields: unknown field 'nope'") and "allowed: index, at, value, bias" in err


def test_cli_trace_fields_prints_what_the_stream_sends(client, tmp_path, capsysbinary):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(BODY))
    assert cli_main(["trace", "grad_w", str(path), "--limit", "3", "--fields", "at,terms.product"]) == 0
    out = io.BytesIO(capsysbinary.readouterr().out)
    streamed = client.post("/api/v1/trace/grad_w/stream?limit=3&fields=at,terms.product", json=BODY).content
    assert out.getvalue() == streamed
    assert orjson.loads(out.getvalue().splitlines()[1]).keys() == {"event", "at", "terms"}


# --------------------------------------------------------------------------------------------
# the first step at once: nothing solved that the request does not show, a small first chunk
# --------------------------------------------------------------------------------------------

def test_a_forward_stream_never_runs_the_backward_pass():
    from convviz.problem import jsonl_chunks

    entry = Solved(problem(padding=1))
    chunks = jsonl_chunks(entry, "forward", 0, 40)
    meta, first = next(chunks), next(chunks)
    assert json.loads(meta)["event"] == "meta" and json.loads(first.splitlines()[0])["index"] == 0
    assert "_backward" not in vars(entry.conv)  # grad_x, grad_w, grad_b: not computed
    assert "_forward" in vars(entry.conv)
    list(chunks)
    assert "_backward" not in vars(entry.conv)
    next(jsonl_chunks(entry, "grad_w", 0, 3))  # a phase that shows a gradient computes it then
    assert "_backward" in vars(entry.conv)


def test_results_are_checked_for_overflow_when_first_needed():
    conv = Convolution.from_arrays(np.full((1, 1, 1, 2), 1e300), np.full((1, 1, 1, 1), 1e-300),
                                   grad_out=np.full((1, 1, 1, 2), 1e300))  # out is finite, grad_w is not
    entry = Solved(conv)
    assert Trace(conv, "forward") and next(entry.writer("forward").chunks(0, 2))  # forward is served
    with pytest.raises(ProblemError) as err:
        entry.writer("grad_w")
    assert err.value.code == "overflow" and "grad_w" in err.value.message
    assert "grad_w" in entry.overflow and "out" not in entry.overflow
    with pytest.raises(ValueError):
        entry.conv.out[0, 0, 0, 0] = 1.0  # computed results are shared: read-only


def test_the_first_chunk_of_a_stream_is_small():
    from convviz.problem import jsonl_chunks
    from convviz.problem.stream import FIRST_TERMS

    conv = resolve(ProblemIn.model_validate({"x_shape": [2, 8, 12, 12], "w_shape": [4, 8, 3, 3], "padding": 1}), Limits())
    entry = Solved(conv)
    trace = entry.trace("forward")
    chunks = jsonl_chunks(entry, "forward", 0, len(trace))
    next(chunks)  # meta
    steps = [next(chunks).count(b"\n") for _ in range(3)]
    assert steps == [FIRST_TERMS // trace.terms_per_step] + [(1 << 15) // trace.terms_per_step] * 2


def test_a_problem_keeps_a_few_selections_only():
    from convviz.problem.cache import MAX_SELECTIONS

    entry = Solved(problem())
    specs = ["at", "index", "value", "terms.x", "terms.w", "at,index", "terms.product"]
    writers = [entry.writer("forward", spec) for spec in specs]
    assert len(entry._selected) == MAX_SELECTIONS < len(specs)
    assert entry.writer("forward", specs[-1]) is writers[-1]  # the latest are kept
    assert entry.writer("forward", specs[0]) is not writers[0]  # the oldest was let go, made again
    assert json.loads(next(entry.writer("forward", "at").json_lines(0, 1))[0]) == {"at": [0, 0, 0, 0]}
