"""Tests of the step traces (convviz/trace) against truths written here from docs/conventions.md.

The truths: "Which inputs feed which outputs" enumerated by one plain loop over every
(n, f, i, j, c, p, q) of the forward pass and inverted for the gradients; x_pad and
grad_out_pad built here cell by cell from docs/conventions.md's definitions; a plain-loop convolution and
backward; and the tutorial's worked example written out symbol by symbol. Each step is read
through its JSON text (``StepWriter``, what a client receives) and must equal the record
``Trace.steps`` gives.
"""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from convviz.problem import PRESETS, Limits, ProblemIn, StepWriter, resolve
from convviz.trace import Convolution, Trace

PHASES = ("forward", "grad_x", "grad_w", "grad_b")


# ---------------------------------------------------------------------------------------------
# Independent reference (plain loops from docs/conventions.md; no convviz helper is used)
# ---------------------------------------------------------------------------------------------

class Reference:
    """Everything a step should contain, for one problem, computed by plain loops."""

    def __init__(self, x, w, b, grad_out, stride, padding, dilation):
        self.x, self.w, self.b, self.grad_out = x, w, b, grad_out
        (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        Ho = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
        Wo = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
        assert grad_out.shape == (N, F, Ho, Wo)
        self.dims = dict(N=N, C=C, H=H, W=W, F=F, KH=KH, KW=KW, Ho=Ho, Wo=Wo)
        self.hyper = (sh, sw, ph, pw, dh, dw)

        # x_pad: x with a ring of ph / pw zeros.
        self.x_pad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
        for n, c, h, v in np.ndindex(x.shape):
            self.x_pad[n, c, h + ph, v + pw] = x[n, c, h, v]

        # grad_out_pad: dilate by the stride, then pad dh(KH-1)-ph on top and that + r_h at the
        # bottom (negative = crop); real[u, t] says which cells hold a grad_out value.
        top, left = dh * (KH - 1) - ph, dw * (KW - 1) - pw
        r_h = (H + 2 * ph - dh * (KH - 1) - 1) % sh
        r_w = (W + 2 * pw - dw * (KW - 1) - 1) % sw
        Hg = (Ho - 1) * sh + 1 + top + top + r_h
        Wg = (Wo - 1) * sw + 1 + left + left + r_w
        assert (Hg, Wg) == (H + dh * (KH - 1), W + dw * (KW - 1))  # docs/conventions.md's shape table
        dilated = np.zeros((N, F, (Ho - 1) * sh + 1, (Wo - 1) * sw + 1))
        dilated_real = np.zeros(dilated.shape[2:], dtype=bool)
        dilated[:, :, ::sh, ::sw] = grad_out
        dilated_real[::sh, ::sw] = True
        self.grad_out_pad = np.zeros((N, F, Hg, Wg))
        self.real = np.zeros((Hg, Wg), dtype=bool)
        self.go_of = {}  # (u, t) -> (i, j) of the grad_out cell a real cell holds
        for u in range(Hg):
            for t in range(Wg):
                du, dt = u - top, t - left
                if 0 <= du < dilated.shape[2] and 0 <= dt < dilated.shape[3]:
                    self.grad_out_pad[:, :, u, t] = dilated[:, :, du, dt]
                    self.real[u, t] = dilated_real[du, dt]
                    if self.real[u, t]:
                        self.go_of[u, t] = (du // sh, dt // sw)

        # Who feeds whom: one pass over every product of the forward pass.
        self.forward_terms = {}  # (n,f,i,j) -> [(x_pad idx, x idx or None, w idx)]
        self.grad_x_terms = {k: [] for k in np.ndindex(x.shape)}  # (n,c,h,v) -> [(grad_out idx, w idx)]
        self.grad_w_terms = {k: [] for k in np.ndindex(w.shape)}  # (f,c,p,q) -> [(grad_out idx, x_pad idx, x idx)]
        self.grad_b_terms = {f: [] for f in range(F)}
        self.out = np.zeros((N, F, Ho, Wo))
        self.grad_x = np.zeros(x.shape)
        self.grad_w = np.zeros(w.shape)
        self.grad_b = np.zeros(F)
        for n in range(N):
            for f in range(F):
                for i in range(Ho):
                    for j in range(Wo):
                        o = (n, f, i, j)
                        self.grad_b_terms[f].append(o)
                        self.grad_b[f] += grad_out[o]
                        terms = self.forward_terms[o] = []
                        acc = b[f]
                        for c in range(C):
                            for p in range(KH):
                                for q in range(KW):
                                    hp, wp = i * sh + p * dh, j * sw + q * dw
                                    h, v = hp - ph, wp - pw
                                    inside = 0 <= h < H and 0 <= v < W
                                    xi = (n, c, h, v) if inside else None
                                    terms.append(((n, c, hp, wp), xi, (f, c, p, q)))
                                    self.grad_w_terms[f, c, p, q].append((o, (n, c, hp, wp), xi))
                                    xv = x[n, c, h, v] if inside else 0.0
                                    acc += xv * w[f, c, p, q]
                                    self.grad_w[f, c, p, q] += grad_out[o] * xv
                                    if inside:  # i*sh + p*dh = h + ph and j*sw + q*dw = v + pw
                                        self.grad_x_terms[n, c, h, v].append((o, (f, c, p, q)))
                                        self.grad_x[n, c, h, v] += grad_out[o] * w[f, c, p, q]
                        self.out[o] = acc

    def result(self, phase):
        return {"forward": self.out, "grad_x": self.grad_x, "grad_w": self.grad_w, "grad_b": self.grad_b}[phase]


def make_problem(cfg):
    """Arrays for a config dict; integer values include zeros (a real grad_out zero must not
    be mistaken for an inserted one)."""
    rng = np.random.default_rng(cfg["seed"])
    N, C, H, W, F, KH, KW = (cfg[k] for k in ("N", "C", "H", "W", "F", "KH", "KW"))
    (sh, sw), (ph, pw), (dh, dw) = cfg["stride"], cfg["padding"], cfg["dilation"]
    Ho = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    draw = (lambda s: rng.integers(-3, 4, size=s).astype(float)) if cfg["values"] == "integers" else rng.standard_normal
    return draw((N, C, H, W)), draw((F, C, KH, KW)), draw((F,)), draw((N, F, Ho, Wo))


def solve(cfg):
    x, w, b, grad_out = make_problem(cfg)
    hyper = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])
    cv = Convolution.from_arrays(x.copy(), w.copy(), b.copy(), grad_out.copy(), **hyper)
    return cv, Reference(x, w, b, grad_out, cfg["stride"], cfg["padding"], cfg["dilation"])


@st.composite
def configs(draw):
    pick = lambda lo, hi: draw(st.integers(lo, hi))  # noqa: E731
    KH, KW = pick(1, 3), pick(1, 3)
    stride, padding, dilation = (pick(1, 3), pick(1, 3)), (pick(0, 3), pick(0, 3)), (pick(1, 2), pick(1, 2))
    # the smallest input the dilated kernel fits in, then up to 4 more rows / columns
    H = pick(max(1, dilation[0] * (KH - 1) + 1 - 2 * padding[0]), max(1, dilation[0] * (KH - 1) + 1 - 2 * padding[0]) + 4)
    W = pick(max(1, dilation[1] * (KW - 1) + 1 - 2 * padding[1]), max(1, dilation[1] * (KW - 1) + 1 - 2 * padding[1]) + 4)
    return dict(N=pick(1, 2), C=pick(1, 2), F=pick(1, 2), H=H, W=W, KH=KH, KW=KW, stride=stride, padding=padding,
                dilation=dilation, values=draw(st.sampled_from(["integers", "normal"])), seed=pick(0, 2**31))


def cfg(N=1, C=1, H=3, W=3, F=1, KH=2, KW=2, stride=(1, 1), padding=(0, 0), dilation=(1, 1), values="integers", seed=1):
    return dict(N=N, C=C, H=H, W=W, F=F, KH=KH, KW=KW, stride=stride, padding=padding, dilation=dilation,
                values=values, seed=seed)


# Configurations every run checks, whatever hypothesis draws.
EXAMPLES = [
    cfg(),  # the worked example's geometry
    cfg(H=6, W=6, KH=3, KW=3, stride=(2, 2)),  # stride 2, one leftover row and column
    cfg(H=8, W=7, KH=2, KW=3, stride=(3, 2), values="normal"),  # remainders 0/1 on different axes
    cfg(H=7, W=7, KH=3, KW=3, dilation=(2, 2)),  # dilation
    cfg(H=5, W=7, KH=2, KW=3, padding=(0, 1)),  # rectangular, padding on one axis
    cfg(N=2, C=2, H=4, W=4, F=3, KH=2, KW=2, padding=(1, 1), values="normal"),  # batch, channels, kernels
    cfg(N=2, C=2, H=2, W=3, F=2, KH=1, KW=2, padding=(3, 2), stride=(2, 3)),  # padding larger than the kernel
    cfg(N=1, C=2, H=5, W=6, F=2, KH=3, KW=2, padding=(2, 1), stride=(2, 2), dilation=(2, 1), values="normal"),
]


def with_examples(test):
    for e in EXAMPLES:
        test = example(e)(test)
    return test


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# The check of every step of one phase
# ---------------------------------------------------------------------------------------------

def t(idx):
    return None if idx is None else tuple(idx)


def bits(v) -> int:
    return struct.unpack("<q", struct.pack("<d", v))[0]


def close(a, b, scale):
    return abs(a - b) <= 1e-12 * max(scale, 1e-300)


def check_phase(cv: Convolution, ref: Reference, phase: str) -> list[dict]:
    d = ref.dims
    x, w, b, grad_out = ref.x, ref.w, ref.b, ref.grad_out
    KH, KW = d["KH"], d["KW"]
    # the artifacts the stream's meta event sends, cell for cell
    assert np.array_equal(cv.x_pad, ref.x_pad)
    assert np.array_equal(cv.grad_out_pad, ref.grad_out_pad)
    assert np.array_equal(np.asarray(cv.grad_out_pad_mask), ref.real)
    assert cv.w_rot.shape == (d["C"], d["F"], KH, KW)
    for c, f, p, q in np.ndindex(cv.w_rot.shape):
        assert cv.w_rot[c, f, p, q] == w[f, c, KH - 1 - p, KW - 1 - q]

    trace = Trace(cv, phase)
    result = ref.result(phase)
    assert len(trace) == result.size
    steps = [json.loads(line) for lines in StepWriter(trace).json_lines(0, len(trace)) for line in lines]
    assert steps == trace.steps()
    assert len(steps) == result.size
    per_step = {"forward": d["C"] * KH * KW, "grad_x": d["F"] * KH * KW,
                "grad_w": d["N"] * d["Ho"] * d["Wo"], "grad_b": d["N"] * d["Ho"] * d["Wo"]}[phase]
    assert trace.terms_per_step == per_step

    for k, s in enumerate(steps):
        at = np.unravel_index(k, result.shape)
        assert s["index"] == k and tuple(s["at"]) == tuple(int(a) for a in at)
        terms = s["terms"]
        assert len(terms) == per_step
        for term in terms:  # each index points at a cell holding the value beside it
            assert term["product"] == (
                term["grad_out_value"] if phase == "grad_b"
                else term[{"forward": "x_value", "grad_x": "grad_out_value", "grad_w": "grad_out_value"}[phase]]
                * term[{"forward": "w_value", "grad_x": "w_value", "grad_w": "x_value"}[phase]]
            )
            if "x_pad" in term:
                assert ref.x_pad[t(term["x_pad"])] == term["x_value"]
                if term["x"] is None:  # padding: outside x
                    hp, wp = term["x_pad"][2:]
                    ph, pw = ref.hyper[2:4]
                    assert not (0 <= hp - ph < d["H"] and 0 <= wp - pw < d["W"]) and term["x_value"] == 0
                else:
                    assert x[t(term["x"])] == term["x_value"]
            if "w" in term:
                assert w[t(term["w"])] == term["w_value"]
            if "w_rot" in term:
                c, f, p, q = term["w_rot"]
                assert term["w"] == [f, c, KH - 1 - p, KW - 1 - q]
                assert cv.w_rot[c, f, p, q] == term["w_value"]
            if "grad_out_pad" in term:
                u, tt = term["grad_out_pad"][2:]
                assert ref.grad_out_pad[t(term["grad_out_pad"])] == term["grad_out_value"]
                if ref.real[u, tt]:
                    n, f = term["grad_out_pad"][:2]
                    assert term["grad_out"] == [n, f, *ref.go_of[u, tt]]
                else:  # an inserted zero (padding or stride hole)
                    assert term["grad_out"] is None and term["grad_out_value"] == 0
            if phase in ("grad_w", "grad_b") or (phase == "grad_x" and term["grad_out"] is not None):
                assert grad_out[t(term["grad_out"])] == term["grad_out_value"]

        # the term set is the term sets of docs/conventions.md
        if phase == "forward":
            got = [(t(tm["x_pad"]), t(tm["x"]), t(tm["w"])) for tm in terms]
            want = ref.forward_terms[tuple(at)]
        elif phase == "grad_x":
            got = [(t(tm["grad_out"]), t(tm["w"])) for tm in terms if tm["grad_out"] is not None]
            want = ref.grad_x_terms[tuple(at)]
            n, c, h, v = at
            dh, dw = ref.hyper[4:]
            window = {(n, f, h + p * dh, v + q * dw) for f in range(d["F"]) for p in range(KH) for q in range(KW)}
            assert {t(tm["grad_out_pad"]) for tm in terms} == window
            assert {(t(tm["grad_out_pad"])[1:], t(tm["w_rot"])) for tm in terms} == {
                ((f, h + p * dh, v + q * dw), (c, f, p, q)) for f in range(d["F"]) for p in range(KH) for q in range(KW)}
        elif phase == "grad_w":
            got = [(t(tm["grad_out"]), t(tm["x_pad"]), t(tm["x"])) for tm in terms]
            want = ref.grad_w_terms[tuple(at)]
        else:
            got = [t(tm["grad_out"]) for tm in terms]
            want = ref.grad_b_terms[at[0]]
        assert len(set(got)) == len(got), f"step {k}: a term appears twice"
        assert set(got) == set(want), f"{phase} step {k} at {s['at']}: terms differ from docs/conventions.md"

        # the value is the sum of the products (+ bias) and the reference result
        products = [tm["product"] for tm in terms]
        bias = s.get("bias", 0.0)
        if phase == "forward":
            assert s["bias"] == b[at[1]]
        else:
            assert "bias" not in s
        scale = sum(abs(p) for p in products) + abs(bias)
        assert close(s["value"], sum(products) + bias, scale)
        assert close(s["value"], result[tuple(at)], scale)
    return steps


@pytest.mark.parametrize("phase", PHASES)
@with_examples
@given(c=configs())
@SETTINGS
def test_every_step_matches_math_md(phase, c):
    cv, ref = solve(c)
    check_phase(cv, ref, phase)


@with_examples
@given(c=configs())
@SETTINGS
def test_grad_x_scatter_steps_spread_each_grad_out_with_the_unrotated_kernel(c):
    """grad_x_scatter: step k spreads grad_out cell k over its window with w as it is; every
    term says which x_pad cell it lands on and which grad_x cell that is (null on padding);
    adding every step's products where they land gives grad_x (docs/conventions.md, "Scatter")."""
    cv, ref = solve(c)
    d = ref.dims
    sh, sw, ph, pw, dh, dw = ref.hyper
    trace = Trace(cv, "grad_x_scatter")
    assert len(trace) == ref.grad_out.size and trace.terms_per_step == d["C"] * d["KH"] * d["KW"]
    steps = [json.loads(line) for lines in StepWriter(trace).json_lines(0, len(trace)) for line in lines]
    assert steps == trace.steps()
    spread = np.zeros(ref.x.shape)
    received = {k: [] for k in np.ndindex(ref.x.shape)}
    for k, s in enumerate(steps):
        n, f, i, j = (int(a) for a in np.unravel_index(k, ref.grad_out.shape))
        assert s["index"] == k and s["at"] == [n, f, i, j] and "bias" not in s
        assert s["value"] == ref.grad_out[n, f, i, j]
        want = []
        for cc in range(d["C"]):
            for p in range(d["KH"]):
                for q in range(d["KW"]):
                    hp, wp = i * sh + p * dh, j * sw + q * dw
                    inside = 0 <= hp - ph < d["H"] and 0 <= wp - pw < d["W"]
                    want.append({"grad_out": [n, f, i, j], "grad_out_value": ref.grad_out[n, f, i, j],
                                 "w": [f, cc, p, q], "w_value": ref.w[f, cc, p, q], "x_pad": [n, cc, hp, wp],
                                 "grad_x": [n, cc, hp - ph, wp - pw] if inside else None,
                                 "product": ref.grad_out[n, f, i, j] * ref.w[f, cc, p, q]})
        assert s["terms"] == want
        for tm in s["terms"]:
            if tm["grad_x"] is not None:
                spread[t(tm["grad_x"])] += tm["product"]
                received[t(tm["grad_x"])].append((t(tm["grad_out"]), t(tm["w"])))
    scale = np.abs(ref.grad_out).sum() * np.abs(ref.w).max() + 1e-300
    assert np.allclose(spread, ref.grad_x, rtol=0, atol=1e-12 * scale)
    assert {k: sorted(v) for k, v in received.items()} == {k: sorted(v) for k, v in ref.grad_x_terms.items()}


# ---------------------------------------------------------------------------------------------
# Random access, laziness, exact floats
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("phase", PHASES)
@given(c=configs(), seed=st.integers(0, 2**31))
@settings(max_examples=10, deadline=None)
def test_step_k_and_blocks_are_random_access(phase, c, seed):
    cv, _ = solve(c)
    trace = Trace(cv, phase)
    everything = trace.steps()
    rnd = random.Random(seed)
    for k in rnd.sample(range(len(trace)), min(5, len(trace))):
        assert trace.step(k) == everything[k]
        assert trace.steps(k, min(len(trace), k + 3)) == everything[k:k + 3]
    # non-contiguous, unordered, repeated: the block lists exactly those steps
    ks = [rnd.randrange(len(trace)) for _ in range(7)]
    blk = trace.block(ks)
    assert blk.index.tolist() == ks
    names = {"forward": ("x_pad", "w"), "grad_x": ("grad_out_pad", "w_rot"),
             "grad_w": ("grad_out", "x_pad"), "grad_b": ("grad_out", None)}[phase]
    shapes = {"x_pad": cv.x_pad.shape, "w": cv.w.shape, "grad_out_pad": cv.grad_out_pad.shape,
              "w_rot": cv.w_rot.shape, "grad_out": cv.grad_out.shape}
    for r, k in enumerate(ks):
        step = everything[k]
        assert blk.at[r].tolist() == step["at"]
        assert blk.value[r] == step["value"]
        assert blk.product[r].tolist() == [tm["product"] for tm in step["terms"]]
        for name, flat in zip(names, (blk.a, blk.b)):
            if name is not None:
                cells = np.stack(np.unravel_index(flat[r], shapes[name]), axis=-1).tolist()
                assert cells == [tm[name] for tm in step["terms"]]


def test_step_out_of_range_says_what_is_allowed():
    cv, _ = solve(cfg())
    trace = Trace(cv, "forward")
    with pytest.raises(IndexError, match=r"0 to 3"):
        trace.step(4)
    with pytest.raises(IndexError):
        trace.step(-1)
    with pytest.raises(ValueError, match="phase must be one of"):
        Trace(cv, "backward")


def test_last_step_of_the_tutorial_layer_without_the_ones_before():
    """A step is derived from its index: the last of 31,360 forward steps (and the last grad_x
    and grad_w steps), checked against sums written here."""
    cv = resolve(ProblemIn.model_validate(PRESETS["tutorial_layer"]["problem"]), Limits())
    x, w, b, g = cv.x, cv.w, cv.b, cv.grad_out
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.zeros((N, C, H + 2, W + 2))
    xp[:, :, 1:-1, 1:-1] = x

    tr = Trace(cv, "forward")
    assert len(tr) == 31_360 and tr.terms_per_step == 288
    s = tr.step(len(tr) - 1)
    n, f, i, j = s["at"]
    assert (n, f, i, j) == (9, 15, 13, 13)
    want = b[f] + sum(xp[n, c, i + p, j + q] * w[f, c, p, q] for c in range(C) for p in range(KH) for q in range(KW))
    assert close(s["value"], want, sum(abs(tm["product"]) for tm in s["terms"]) + abs(b[f]))
    assert sum(tm["x"] is None for tm in s["terms"]) == C * 5  # bottom-right corner: 5 of 9 cells are padding

    s = Trace(cv, "grad_x").step(N * C * H * W - 1)  # x[9, 31, 13, 13]
    want = sum(g[9, f, 13 + 1 - p, 13 + 1 - q] * w[f, 31, p, q]
               for f in range(F) for p in range(KH) for q in range(KW) if 13 + 1 - p < 14 and 13 + 1 - q < 14)
    assert close(s["value"], want, sum(abs(tm["product"]) for tm in s["terms"]))
    assert len(s["terms"]) == F * 9 and sum(tm["grad_out"] is not None for tm in s["terms"]) == F * 4

    s = Trace(cv, "grad_w").step(F * C * KH * KW - 1)  # w[15, 31, 2, 2]
    want = sum(g[n, 15, i, j] * xp[n, 31, i + 2, j + 2] for n in range(N) for i in range(14) for j in range(14))
    assert len(s["terms"]) == N * 14 * 14
    assert close(s["value"], want, sum(abs(tm["product"]) for tm in s["terms"]))


@pytest.mark.parametrize("phase", PHASES)
def test_json_floats_round_trip_bit_for_bit(phase):
    """Every float in the text parses back to the very float64 it came from (repr, not %g)."""
    c = cfg(N=2, C=2, H=5, W=4, F=2, KH=3, KW=2, padding=(1, 1), stride=(2, 1), values="normal", seed=11)
    x, w, b, grad_out = make_problem(c)
    x = x * 1e-7 + np.pi  # long mantissas, not the short decimals %g would keep
    w[0, 0, 0, 0] = -0.0
    w[0, 1, 0, 0] = 5e-324  # the smallest subnormal
    grad_out[0, 0, 0, 0] = 1.7976931348623157e308 / 1e10
    cv = Convolution.from_arrays(x, w, b, grad_out, stride=c["stride"], padding=c["padding"])
    ref = Reference(x, w, b, grad_out, c["stride"], c["padding"], c["dilation"])
    trace = Trace(cv, phase)
    lines = [ln for lines in StepWriter(trace).json_lines(0, len(trace)) for ln in lines]
    result = trace.result.reshape(-1)
    for k, line in enumerate(lines):
        s = json.loads(line)
        assert bits(s["value"]) == bits(result[k])
        for tm in s["terms"]:
            for field, arr in (("x_value", ref.x_pad), ("w_value", w), ("grad_out_value", ref.grad_out_pad)):
                if field in tm:
                    src = {"x_value": "x_pad", "w_value": "w", "grad_out_value": "grad_out_pad"}[field]
                    if src == "grad_out_pad" and src not in tm:
                        src, arr = "grad_out", grad_out
                    assert bits(tm[field]) == bits(arr[t(tm[src])])
            a, bb = {"forward": ("x_value", "w_value"), "grad_x": ("grad_out_value", "w_value"),
                     "grad_w": ("grad_out_value", "x_value"), "grad_b": ("grad_out_value", None)}[phase]
            want = tm[a] if bb is None else float(np.float64(tm[a]) * np.float64(tm[bb]))
            assert bits(tm["product"]) == bits(want)
        if phase == "forward":
            assert bits(s["bias"]) == bits(b[s["at"][1]])


# ---------------------------------------------------------------------------------------------
# The tutorial's worked example (docs/conventions.md, last section), symbol by symbol
# ---------------------------------------------------------------------------------------------

def worked():
    cv = resolve(ProblemIn.model_validate(PRESETS["worked"]["problem"]), Limits())
    assert cv.x.shape == (1, 1, 3, 3) and cv.w.shape == (1, 1, 2, 2)
    assert cv.geo.stride == (1, 1) and cv.geo.padding == (0, 0) and cv.geo.dilation == (1, 1)
    return cv


def name(letter, idx):
    """1-based tutorial name of a 0-based [n, c, row, col] index: x[0,0,1,2] -> 'x23'."""
    return f"{letter}{idx[2] + 1}{idx[3] + 1}"


def equations(text):
    """'a11 = x11 w11 + x12 w12' -> {'a11': {('x11','w11'), ('x12','w12')}}"""
    eqs = {}
    for line in text.strip().splitlines():
        lhs, rhs = line.split("=")
        eqs[lhs.strip()] = {tuple(sorted(term.split())) for term in rhs.split("+")}
    return eqs


FORWARD_EQUATIONS = equations("""
    a11 = x11 w11 + x12 w12 + x21 w21 + x22 w22
    a12 = x12 w11 + x13 w12 + x22 w21 + x23 w22
    a21 = x21 w11 + x22 w12 + x31 w21 + x32 w22
    a22 = x22 w11 + x23 w12 + x32 w21 + x33 w22
""")

DX_EQUATIONS = equations("""
    Dx11 = Da11 w11
    Dx12 = Da11 w12 + Da12 w11
    Dx13 = Da12 w12
    Dx21 = Da11 w21 + Da21 w11
    Dx22 = Da11 w22 + Da12 w21 + Da21 w12 + Da22 w11
    Dx23 = Da12 w22 + Da22 w12
    Dx31 = Da21 w21
    Dx32 = Da21 w22 + Da22 w21
    Dx33 = Da22 w22
""")


def test_worked_example_forward_equations():
    got = {name("a", s["at"]): {tuple(sorted((name("x", tm["x"]), name("w", tm["w"])))) for tm in s["terms"]}
           for s in Trace(worked(), "forward").steps()}
    assert got == FORWARD_EQUATIONS


def test_worked_example_nine_dx_equations():
    steps = Trace(worked(), "grad_x").steps()
    got = {name("Dx", s["at"]): {tuple(sorted((name("Da", tm["grad_out"]), name("w", tm["w"]))))
                                 for tm in s["terms"] if tm["grad_out"] is not None}
           for s in steps}
    assert got == DX_EQUATIONS
    # each step is the whole 2x2 window of the zero-ringed map: the null terms are the ring
    assert all(len(s["terms"]) == 4 for s in steps)
    assert sum(tm["grad_out"] is None for s in steps for tm in s["terms"]) == 9 * 4 - 16


def test_worked_example_zero_ringed_error_map():
    """The tutorial's pad(top_diff): a 4x4 map, grad_out in the inner 2x2, a ring of zeros."""
    cv = worked()
    assert cv.grad_out_pad.shape == (1, 1, 4, 4)
    mask = np.asarray(cv.grad_out_pad_mask)
    assert mask.tolist() == [[False] * 4, [False, True, True, False], [False, True, True, False], [False] * 4]
    ring = np.ones((4, 4), dtype=bool)
    ring[1:3, 1:3] = False
    assert np.all(cv.grad_out_pad[0, 0][ring] == 0)
    assert cv.grad_out_pad[0, 0, 1:3, 1:3].tolist() == cv.grad_out[0, 0].tolist()
    # ... correlated with the rotated kernel | w22 w21 ; w12 w11 |
    w = cv.w[0, 0]
    assert cv.w_rot[0, 0].tolist() == [[w[1, 1], w[1, 0]], [w[0, 1], w[0, 0]]]
