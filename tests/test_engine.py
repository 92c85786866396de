"""Tests of the convolution engine (naive and fast) against truths that do not come from it.

The truths: the tutorial's worked example written out symbol by symbol (docs/conventions.md, last
section), a reference written here in plain loops straight from docs/conventions.md's formulas, central
finite differences of a scalar loss, and PyTorch when it is installed. Nothing here compares
the engine with numbers it printed itself.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convviz
from convviz.engine import Geometry, dilate_and_pad, fast, im2col, kernel_matrix, naive, pad_input, rotate_kernel
from convviz.engine.checks import check_problem

ENGINES = [pytest.param(naive, id="naive"), pytest.param(fast, id="fast")]


# ---------------------------------------------------------------------------------------------
# An independent reference: docs/conventions.md's formulas as plain loops (no engine helper is used).
# ---------------------------------------------------------------------------------------------

def pair(v):
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def out_size(H, W, KH, KW, stride, padding, dilation):
    """docs/conventions.md, "Output size": Ho = floor((H + 2ph - dh(KH-1) - 1) / sh) + 1, likewise Wo."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    return (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1, (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1


def x_pad_at(x, n, c, r, s, ph, pw):
    """x_pad[n, c, r, s] without building x_pad: zero in the padding ring."""
    H, W = x.shape[2:]
    r, s = r - ph, s - pw
    return x[n, c, r, s] if 0 <= r < H and 0 <= s < W else 0.0


def ref_forward(x, w, b, stride, padding, dilation):
    """out[n,f,i,j] = b[f] + sum_{c,p,q} x_pad[n, c, i*sh + p*dh, j*sw + q*dw] * w[f,c,p,q]."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho, Wo = out_size(H, W, KH, KW, stride, padding, dilation)
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    acc = 0.0 if b is None else b[f]
                    for c in range(C):
                        for p in range(KH):
                            for q in range(KW):
                                acc += x_pad_at(x, n, c, i * sh + p * dh, j * sw + q * dw, ph, pw) * w[f, c, p, q]
                    out[n, f, i, j] = acc
    return out


def ref_backward(x, w, grad_out, stride, padding, dilation):
    """Every term of the forward sum, differentiated on its own (docs/conventions.md, "Which inputs feed
    which outputs"): grad_out[n,f,i,j] flows to w[f,c,p,q] times the x_pad cell it read, and to
    that x_pad cell times w[f,c,p,q], which is a cell of x unless it is padding."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho, Wo = out_size(H, W, KH, KW, stride, padding, dilation)
    grad_x, grad_w, grad_b = np.zeros(x.shape), np.zeros(w.shape), np.zeros(F)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    g = grad_out[n, f, i, j]
                    grad_b[f] += g
                    for c in range(C):
                        for p in range(KH):
                            for q in range(KW):
                                r, s = i * sh + p * dh - ph, j * sw + q * dw - pw  # in x's coordinates
                                if 0 <= r < H and 0 <= s < W:
                                    grad_w[f, c, p, q] += g * x[n, c, r, s]
                                    grad_x[n, c, r, s] += g * w[f, c, p, q]
    return grad_x, grad_w, grad_b


def taps_forward(x, w, b, stride, padding, dilation):
    """The forward formula again, vectorised over (n, i, j) by looping over kernel taps only;
    cheap enough to be called twice per entry for finite differences."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho, Wo = out_size(H, W, KH, KW, stride, padding, dilation)
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph : ph + H, pw : pw + W] = x
    out = np.zeros((N, F, Ho, Wo)) + (0.0 if b is None else b[None, :, None, None])
    for p in range(KH):
        for q in range(KW):
            seen = xp[:, :, p * dh : p * dh + (Ho - 1) * sh + 1 : sh, q * dw : q * dw + (Wo - 1) * sw + 1 : sw]
            out += np.einsum("nchw,fc->nfhw", seen, w[:, :, p, q])
    return out


def finite_differences(x, w, b, grad_out, stride, padding, dilation, step=1e-6):
    """Central differences of L = sum(out * grad_out) with respect to every entry of x, w, b.

    L is linear in each single entry, so the central difference has no truncation error; what
    is left is rounding, about eps * |L| / step.
    """
    def loss(xx, ww, bb):
        return float(np.sum(taps_forward(xx, ww, bb, stride, padding, dilation) * grad_out))

    grads = []
    for k, arr in enumerate((x, w, b)):
        grad = np.zeros(arr.shape)
        for idx in np.ndindex(arr.shape):
            args = [x.copy(), w.copy(), b.copy()]
            args[k][idx] = arr[idx] + step
            plus = loss(*args)
            args[k][idx] = arr[idx] - step
            grad[idx] = (plus - loss(*args)) / (2 * step)
        grads.append(grad)
    return tuple(grads)


def fd_rounding(x, w, b, grad_out, stride, padding, dilation, step=1e-6) -> float:
    """The rounding a central difference of L = sum(out * grad_out) can carry: about eps times the
    size of the sums that make L, over the step. A gradient much smaller than L (a tiny grad_b
    beside large products) is only known to that absolute accuracy."""
    size = np.sum(taps_forward(np.abs(x), np.abs(w), np.abs(b), stride, padding, dilation) * np.abs(grad_out))
    return 64 * np.finfo(float).eps * float(size) / step


def matches_fd(g, g_fd, rounding: float) -> bool:
    """Within 1e-7 normwise relative error, or within the differences' own rounding."""
    return rel_err(g, g_fd) < 1e-7 or float(np.max(np.abs(np.asarray(g) - g_fd), initial=0.0)) <= rounding


def rel_err(a, b) -> float:
    """Normwise relative error max|a - b| / max(max|a|, max|b|); 0 when both are all zeros."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    return 0.0 if scale == 0 else float(np.max(np.abs(a - b)) / scale)


# ---------------------------------------------------------------------------------------------
# The tutorial's worked example, as literal equations
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def worked_example():
    rng = np.random.default_rng(7)
    x11, x12, x13, x21, x22, x23, x31, x32, x33 = rng.standard_normal(9)
    w11, w12, w21, w22 = rng.standard_normal(4)
    Da11, Da12, Da21, Da22 = rng.standard_normal(4)
    return dict(locals())


def test_worked_example_forward(worked_example):
    s = worked_example
    x11, x12, x13, x21, x22, x23, x31, x32, x33 = (s[k] for k in "x11 x12 x13 x21 x22 x23 x31 x32 x33".split())
    w11, w12, w21, w22 = s["w11"], s["w12"], s["w21"], s["w22"]
    x = [[[[x11, x12, x13], [x21, x22, x23], [x31, x32, x33]]]]  # nested lists are accepted
    w = [[[[w11, w12], [w21, w22]]]]
    a11 = x11 * w11 + x12 * w12 + x21 * w21 + x22 * w22
    a12 = x12 * w11 + x13 * w12 + x22 * w21 + x23 * w22
    a21 = x21 * w11 + x22 * w12 + x31 * w21 + x32 * w22
    a22 = x22 * w11 + x23 * w12 + x32 * w21 + x33 * w22
    expected = np.array([[[[a11, a12], [a21, a22]]]])
    for engine in (naive, fast):
        out = engine.conv2d_forward(x, w)
        assert out.shape == (1, 1, 2, 2) and out.dtype == np.float64
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(engine.conv2d_forward(x, w, [0.5]), expected + 0.5, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(convviz.conv2d(x, w), expected, rtol=1e-13, atol=1e-13)


def test_worked_example_backward(worked_example):
    s = worked_example
    x11, x12, x13, x21, x22, x23, x31, x32, x33 = (s[k] for k in "x11 x12 x13 x21 x22 x23 x31 x32 x33".split())
    w11, w12, w21, w22 = s["w11"], s["w12"], s["w21"], s["w22"]
    Da11, Da12, Da21, Da22 = s["Da11"], s["Da12"], s["Da21"], s["Da22"]
    x = np.array([[[[x11, x12, x13], [x21, x22, x23], [x31, x32, x33]]]])
    w = np.array([[[[w11, w12], [w21, w22]]]])
    grad_out = np.array([[[[Da11, Da12], [Da21, Da22]]]])

    Dx11 = Da11 * w11
    Dx12 = Da11 * w12 + Da12 * w11
    Dx13 = Da12 * w12
    Dx21 = Da11 * w21 + Da21 * w11
    Dx22 = Da11 * w22 + Da12 * w21 + Da21 * w12 + Da22 * w11
    Dx23 = Da12 * w22 + Da22 * w12
    Dx31 = Da21 * w21
    Dx32 = Da21 * w22 + Da22 * w21
    Dx33 = Da22 * w22
    # dL/dw_pq = sum over outputs of Da_ij * (the x that met w_pq in a_ij); no rotation.
    Dw11 = Da11 * x11 + Da12 * x12 + Da21 * x21 + Da22 * x22
    Dw12 = Da11 * x12 + Da12 * x13 + Da21 * x22 + Da22 * x23
    Dw21 = Da11 * x21 + Da12 * x22 + Da21 * x31 + Da22 * x32
    Dw22 = Da11 * x22 + Da12 * x23 + Da21 * x32 + Da22 * x33
    Db = Da11 + Da12 + Da21 + Da22

    expected_x = np.array([[[[Dx11, Dx12, Dx13], [Dx21, Dx22, Dx23], [Dx31, Dx32, Dx33]]]])
    expected_w = np.array([[[[Dw11, Dw12], [Dw21, Dw22]]]])
    results = [e.conv2d_backward(x, w, grad_out, stride=1, padding=0, dilation=1) for e in (naive, fast)]
    results.append(convviz.conv2d_backward(x, w, grad_out))
    for grad_x, grad_w, grad_b in results:
        np.testing.assert_allclose(grad_x, expected_x, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(grad_w, expected_w, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(grad_b, [Db], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(naive.grad_x_scatter(x, w, grad_out), expected_x, rtol=1e-13, atol=1e-13)


def test_worked_example_artifacts(worked_example):
    s = worked_example
    w11, w12, w21, w22 = s["w11"], s["w12"], s["w21"], s["w22"]
    Da11, Da12, Da21, Da22 = s["Da11"], s["Da12"], s["Da21"], s["Da22"]
    w = np.array([[[[w11, w12], [w21, w22]]]])
    grad_out = np.array([[[[Da11, Da12], [Da21, Da22]]]])
    geo = Geometry.from_shapes((1, 1, 3, 3), w.shape, stride=1, padding=0, dilation=1)

    grad_out_pad, real = dilate_and_pad(grad_out, geo)
    ringed = np.array([[0, 0, 0, 0], [0, Da11, Da12, 0], [0, Da21, Da22, 0], [0, 0, 0, 0]])
    assert grad_out_pad.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(grad_out_pad[0, 0], ringed)
    np.testing.assert_array_equal(real, [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])

    w_rot = rotate_kernel(w)
    np.testing.assert_array_equal(w_rot[0, 0], [[w22, w21], [w12, w11]])

    # The gather form by hand: each Dx is one 2x2 window of the ringed map times w_rot.
    Dx22 = Da11 * w22 + Da12 * w21 + Da21 * w12 + Da22 * w11
    assert np.sum(grad_out_pad[0, 0, 1:3, 1:3] * w_rot[0, 0]) == pytest.approx(Dx22, rel=1e-13)
    assert np.sum(grad_out_pad[0, 0, 0:2, 0:2] * w_rot[0, 0]) == pytest.approx(Da11 * w11, rel=1e-13)


# ---------------------------------------------------------------------------------------------
# Property test over a wide space of geometries
# ---------------------------------------------------------------------------------------------

@st.composite
def problems(draw, max_stride=5):
    """A valid problem: shapes, hyper-parameters, x, w, b, grad_out (float64).

    Sizes are built so that Ho, Wo >= 1 (H is at least the dilated kernel minus both paddings),
    then checked with ``assume`` against the output-size formula.
    """
    N, C, F = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))
    ph, pw = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H = max(1, dh * (KH - 1) + 1 - 2 * ph) + draw(st.integers(0, 4))
    W = max(1, dw * (KW - 1) + 1 - 2 * pw) + draw(st.integers(0, 4))
    Ho, Wo = out_size(H, W, KH, KW, (sh, sw), (ph, pw), (dh, dw))
    assume(Ho >= 1 and Wo >= 1)

    def hyper(a, b):  # exercise both spellings: one int, or a per-axis pair (tuple or list)
        if a == b and draw(st.booleans()):
            return a
        return draw(st.sampled_from([(a, b), [a, b]]))

    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return dict(
        x=rng.standard_normal((N, C, H, W)),
        w=rng.standard_normal((F, C, KH, KW)),
        b=rng.standard_normal(F),
        grad_out=rng.standard_normal((N, F, Ho, Wo)),
        stride=hyper(sh, sw), padding=hyper(ph, pw), dilation=hyper(dh, dw),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_engines_match_reference_and_finite_differences(prob):
    x, w, b, grad_out = prob["x"], prob["w"], prob["b"], prob["grad_out"]
    hp = dict(stride=prob["stride"], padding=prob["padding"], dilation=prob["dilation"])

    out_ref = ref_forward(x, w, b, **hp)
    np.testing.assert_allclose(taps_forward(x, w, b, **hp), out_ref, rtol=1e-12, atol=1e-12)
    grads_ref = ref_backward(x, w, grad_out, **hp)
    grads_fd = finite_differences(x, w, b, grad_out, **hp)
    rounding = fd_rounding(x, w, b, grad_out, **hp)
    for name, g_ref, g_fd in zip(("grad_x", "grad_w", "grad_b"), grads_ref, grads_fd):
        assert matches_fd(g_ref, g_fd, rounding), f"reference {name} disagrees with finite differences"

    for engine in (naive, fast):
        out = engine.conv2d_forward(x, w, b, **hp)
        assert out.shape == out_ref.shape and out.dtype == np.float64
        assert rel_err(out, out_ref) < 1e-12, engine.__name__
        grads = engine.conv2d_backward(x, w, grad_out, **hp)
        for name, g, g_ref, g_fd in zip(("grad_x", "grad_w", "grad_b"), grads, grads_ref, grads_fd):
            assert g.shape == g_ref.shape and g.dtype == np.float64, (engine.__name__, name)
            assert rel_err(g, g_ref) < 1e-12, (engine.__name__, name)
            assert matches_fd(g, g_fd, rounding), (engine.__name__, name)
    # scatter form == gather form
    assert rel_err(naive.grad_x_scatter(x, w, grad_out, **hp), grads_ref[0]) < 1e-12
    # the public API is the fast engine
    assert rel_err(convviz.conv2d(x, w, b, **hp), out_ref) < 1e-12
    for g, g_ref in zip(convviz.conv2d_backward(x, w, grad_out, **hp), grads_ref):
        assert rel_err(g, g_ref) < 1e-12


@settings(max_examples=80, deadline=None)
@given(problems())
def test_dilate_and_pad_places_every_grad_out_value(prob):
    """grad_out_pad and its mask, built here from docs/conventions.md: grad_out[.., i, j] sits at row
    i*sh + dh(KH-1) - ph and column j*sw + dw(KW-1) - pw; it is cropped when that is outside."""
    x, w, grad_out = prob["x"], prob["w"], prob["grad_out"]
    hp = dict(stride=prob["stride"], padding=prob["padding"], dilation=prob["dilation"])
    (sh, sw), (ph, pw), (dh, dw) = pair(hp["stride"]), pair(hp["padding"]), pair(hp["dilation"])
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Hg, Wg = H + dh * (KH - 1), W + dw * (KW - 1)
    grad_out = 1.0 + np.abs(grad_out)  # no real value is zero, so the mask is visible in the data
    expected = np.zeros((N, F, Hg, Wg))
    expected_real = np.zeros((Hg, Wg), dtype=bool)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            r, s = i * sh + dh * (KH - 1) - ph, j * sw + dw * (KW - 1) - pw
            if 0 <= r < Hg and 0 <= s < Wg:
                expected[:, :, r, s] = grad_out[:, :, i, j]
                expected_real[r, s] = True

    geo = Geometry.from_shapes(x.shape, w.shape, **hp)
    grad_out_pad, real = dilate_and_pad(grad_out, geo)
    assert grad_out_pad.shape == (N, F, Hg, Wg)
    assert real.shape == (Hg, Wg) and real.dtype == bool
    np.testing.assert_array_equal(grad_out_pad, expected)
    np.testing.assert_array_equal(real, expected_real)
    np.testing.assert_array_equal(real[None, None] & np.ones_like(grad_out_pad, dtype=bool), grad_out_pad != 0)


# ---------------------------------------------------------------------------------------------
# Explicit cases
# ---------------------------------------------------------------------------------------------

def read_indices(size, k, s, p, d, n_out):
    """Rows (or columns) of x that at least one window reads, from out[i] <- x_pad[i*s + t*d]."""
    return {i * s + t * d - p for i in range(n_out) for t in range(k)} & set(range(size))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "H, W, KH, KW, stride, padding, dilation, unread_rows, unread_cols",
    [
        # 6 rows, 3-row kernel, stride 2: windows start at rows 0 and 2, so row 5 is never read;
        # 7 columns, 2-column kernel, stride 3: windows at 0-1 and 3-4, columns 2, 5, 6 unread.
        (6, 7, 3, 2, (2, 3), 0, 1, {5}, {2, 5, 6}),
        # stride 4 with padding 1: x rows 1 and 2 fall in the gap between two windows; the
        # remainder (x_pad row 6) is padding, so x's last row is read.
        (5, 5, 2, 2, 4, 1, 1, {1, 2}, {1, 2}),
        # dilation 2, stride 3: a 2-tap kernel reads rows {0, 2} and {3, 5}; rows 1 and 4 are
        # holes inside / between windows and row 6 is the remainder.
        (7, 7, 2, 2, 3, 0, 2, {1, 4, 6}, {1, 4, 6}),
    ],
)
def test_rows_no_window_reads_get_zero_grad_x(engine, H, W, KH, KW, stride, padding, dilation, unread_rows, unread_cols):
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    Ho, Wo = out_size(H, W, KH, KW, stride, padding, dilation)
    assert set(range(H)) - read_indices(H, KH, sh, ph, dh, Ho) == unread_rows
    assert set(range(W)) - read_indices(W, KW, sw, pw, dw, Wo) == unread_cols

    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 1.5, (2, 2, H, W))  # all positive: every read cell gets a nonzero sum
    w = rng.uniform(0.5, 1.5, (3, 2, KH, KW))
    grad_out = rng.uniform(0.5, 1.5, (2, 3, Ho, Wo))
    grad_x, grad_w, _ = engine.conv2d_backward(x, w, grad_out, stride=stride, padding=padding, dilation=dilation)
    unread = np.zeros((H, W), dtype=bool)
    unread[sorted(unread_rows), :] = True
    unread[:, sorted(unread_cols)] = True
    assert np.all(grad_x[:, :, unread] == 0)
    assert np.all(grad_x[:, :, ~unread] > 0)
    # ... and changing an unread cell changes nothing downstream.
    x2 = x.copy()
    x2[:, :, unread] = 1e6
    np.testing.assert_array_equal(
        engine.conv2d_forward(x2, w, stride=stride, padding=padding, dilation=dilation),
        engine.conv2d_forward(x, w, stride=stride, padding=padding, dilation=dilation),
    )
    np.testing.assert_allclose(grad_w, ref_backward(x, w, grad_out, stride, padding, dilation)[1], rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_scatter_equals_gather(seed):
    rng = np.random.default_rng(seed)
    N, C, F = rng.integers(1, 4, 3)
    KH, KW = rng.integers(1, 4, 2)
    stride, padding, dilation = tuple(rng.integers(1, 4, 2)), tuple(rng.integers(0, 4, 2)), tuple(rng.integers(1, 3, 2))
    H = max(1, dilation[0] * (KH - 1) + 1 - 2 * padding[0]) + int(rng.integers(0, 6))
    W = max(1, dilation[1] * (KW - 1) + 1 - 2 * padding[1]) + int(rng.integers(0, 6))
    Ho, Wo = out_size(H, W, KH, KW, stride, padding, dilation)
    x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, KH, KW))
    grad_out = rng.standard_normal((N, F, Ho, Wo))
    hp = dict(stride=stride, padding=padding, dilation=dilation)
    scatter = naive.grad_x_scatter(x, w, grad_out, **hp)
    assert rel_err(scatter, naive.conv2d_backward(x, w, grad_out, **hp)[0]) < 1e-12
    assert rel_err(scatter, fast.conv2d_backward(x, w, grad_out, **hp)[0]) < 1e-12


def test_im2col_times_kernel_matrix_is_out():
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 2, 3))
    hp = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    geo = Geometry.from_shapes(x.shape, w.shape, **hp)
    cols = im2col(pad_input(x, geo), geo)
    assert cols.shape == (2 * geo.Ho * geo.Wo, 3 * 2 * 3)
    out = (cols @ kernel_matrix(w)).reshape(2, geo.Ho, geo.Wo, 4).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, ref_forward(x, w, None, **hp), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# The tutorial's backward code, transcribed, keeps its pitfall documented
# ---------------------------------------------------------------------------------------------

def tutorial_backward_dx(bottom_val, w, residual, stride, pad):
    """dx as the tutorial's ``backward`` computes it (seed text, section 3.2), kernel rotation
    inside the scatter loop and ``[pad:-pad]`` crop included; only the dx part is kept."""
    N, C, H, W = bottom_val.shape
    F, _, HH, WW = w.shape
    H_out = int(1 + (H + 2 * pad - HH) / stride)
    W_out = int(1 + (W + 2 * pad - WW) / stride)
    x_pad = np.pad(bottom_val, ((0,), (0,), (pad,), (pad,)), mode="constant", constant_values=0)
    dx = np.zeros_like(bottom_val)
    dx_pad = np.zeros_like(x_pad)
    for i in range(H_out):
        for j in range(W_out):
            for n in range(N):  # compute dx_pad
                temp_w = np.rot90(w, 2, (2, 3))
                dx_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW] += np.sum(
                    (temp_w[:, :, :, :] * (residual[n, :, i, j])[:, None, None, None]), axis=0
                )
    dx[:, :, :, :] = dx_pad[:, :, pad:-pad, pad:-pad]
    return dx


def test_tutorial_rotated_scatter_is_wrong_for_non_symmetric_kernel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    grad_out = rng.standard_normal((2, 4, 5, 5))
    truth = ref_backward(x, w, grad_out, 1, 1, 1)[0]
    tutorial = tutorial_backward_dx(x, w, grad_out, stride=1, pad=1)
    assert np.max(np.abs(tutorial - truth)) > 1.0  # docs/conventions.md reports 23 on such a problem
    for engine in (naive, fast):
        assert rel_err(engine.conv2d_backward(x, w, grad_out, padding=1)[0], truth) < 1e-12

    # The error hides when every kernel is symmetric under a 180-degree rotation.
    w_sym = w + w[:, :, ::-1, ::-1]
    truth_sym = ref_backward(x, w_sym, grad_out, 1, 1, 1)[0]
    np.testing.assert_allclose(tutorial_backward_dx(x, w_sym, grad_out, stride=1, pad=1), truth_sym, rtol=1e-12, atol=1e-12)


def test_tutorial_crop_is_empty_for_pad_zero():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((3, 2, 2, 2))
    grad_out = rng.standard_normal((1, 3, 3, 3))
    assert np.zeros((1, 2, 4, 4))[:, :, 0:-0, 0:-0].size == 0  # [pad:-pad] with pad == 0
    with pytest.raises(ValueError, match="could not broadcast"):
        tutorial_backward_dx(x, w, grad_out, stride=1, pad=0)
    # The engine's explicit stop indices have no such hole.
    assert rel_err(naive.grad_x_scatter(x, w, grad_out), ref_backward(x, w, grad_out, 1, 0, 1)[0]) < 1e-12


# ---------------------------------------------------------------------------------------------
# PyTorch as a second, external truth
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(25))
def test_against_torch(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1000 + seed)
    N, C, F = (int(v) for v in rng.integers(1, 4, 3))
    KH, KW = (int(v) for v in rng.integers(1, 5, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    padding = tuple(int(v) for v in rng.integers(0, 4, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    H = max(1, dilation[0] * (KH - 1) + 1 - 2 * padding[0]) + int(rng.integers(0, 8))
    W = max(1, dilation[1] * (KW - 1) + 1 - 2 * padding[1]) + int(rng.integers(0, 8))
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, KH, KW)), rng.standard_normal(F)

    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    out_t = torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation)
    grad_out = rng.standard_normal(tuple(out_t.shape))
    grads_t = torch.autograd.grad(out_t, (xt, wt, bt), torch.from_numpy(grad_out))

    hp = dict(stride=stride, padding=padding, dilation=dilation)
    for engine in (naive, fast):
        out = engine.conv2d_forward(x, w, b, **hp)
        assert rel_err(out, out_t.detach().numpy()) < 1e-12
        for g, g_t in zip(engine.conv2d_backward(x, w, grad_out, **hp), grads_t):
            assert rel_err(g, g_t.numpy()) < 1e-12


# ---------------------------------------------------------------------------------------------
# Explicit dilate_and_pad cases
# ---------------------------------------------------------------------------------------------

def test_dilate_and_pad_stride_holes_and_remainder():
    # H = W = 6, 3x3 kernel, stride 2, pad 0: Ho = 2, remainder 1; margins 2 top, 3 bottom.
    geo = Geometry.from_shapes((1, 1, 6, 6), (1, 1, 3, 3), stride=2)
    grad_out = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    grad_out_pad, real = dilate_and_pad(grad_out, geo)
    expected = np.zeros((8, 8))
    expected[2, 2], expected[2, 4], expected[4, 2], expected[4, 4] = 1, 2, 3, 4
    np.testing.assert_array_equal(grad_out_pad[0, 0], expected)
    np.testing.assert_array_equal(real, expected != 0)


def test_dilate_and_pad_crops_when_padding_exceeds_kernel_span():
    # 1x1 kernel with padding 2: out is 7x7 over a 3x3 input, and grad_out_pad (3x3) keeps
    # only the centre, the outputs whose window is a cell of x.
    geo = Geometry.from_shapes((1, 1, 3, 3), (1, 1, 1, 1), padding=2)
    grad_out = np.arange(1.0, 50.0).reshape(1, 1, 7, 7)
    grad_out_pad, real = dilate_and_pad(grad_out, geo)
    assert grad_out_pad.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(grad_out_pad[0, 0], grad_out[0, 0, 2:5, 2:5])
    assert real.all()


def test_dilate_and_pad_crops_every_real_row():
    # H = 1, 3-row kernel, padding 5, stride 9: x_pad has 11 rows, one window (rows 0-2, all
    # padding), remainder 8. The single grad_out row would sit at row 0*9 + 2 - 5 = -3, so
    # grad_out_pad (3 rows) is all zeros and grad_x is 0.
    x, w = np.ones((1, 1, 1, 1)), np.ones((1, 1, 3, 1))
    geo = Geometry.from_shapes(x.shape, w.shape, stride=9, padding=(5, 0))
    grad_out = np.ones(geo.out_shape)
    grad_out_pad, real = dilate_and_pad(grad_out, geo)
    np.testing.assert_array_equal(grad_out_pad, np.zeros((1, 1, 3, 1)))
    assert not real.any()
    np.testing.assert_array_equal(naive.conv2d_backward(x, w, grad_out, stride=9, padding=(5, 0))[0], 0)


# ---------------------------------------------------------------------------------------------
# Validation: ValueError naming what was received
# ---------------------------------------------------------------------------------------------

X, W_, B, G = np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), np.ones(3), np.ones((1, 3, 3, 3))
NAN_X = X.copy()
NAN_X[0, 0, 0, 0] = np.nan
INF_G = G.copy()
INF_G[0, 1, 2, 2] = np.inf

FORWARD_CASES = [
    ("ragged x", dict(x=[[[[1.0, 2.0], [3.0]]]], w=np.ones((1, 1, 1, 1))), "ragged"),
    ("x rank 3", dict(x=np.ones((2, 5, 5)), w=W_), "got 3 (shape (2, 5, 5))"),
    ("w rank 2", dict(x=X, w=np.ones((3, 3))), "got 2 (shape (3, 3))"),
    ("channels", dict(x=X, w=np.ones((3, 4, 3, 3))), "w has 4 input channels (shape (3, 4, 3, 3)) but x has 2"),
    ("b shape", dict(x=X, w=W_, b=np.ones(2)), "got shape (2,)"),
    ("b rank", dict(x=X, w=W_, b=np.ones((3, 1))), "got 2 (shape (3, 1))"),
    ("nan x", dict(x=NAN_X, w=W_), "got NaN or infinity"),
    ("inf w", dict(x=X, w=np.full((3, 2, 3, 3), -np.inf)), "got NaN or infinity"),
    ("stride 0", dict(x=X, w=W_, stride=0), "got 0"),
    ("stride pair 0", dict(x=X, w=W_, stride=(1, 0)), "got [1, 0]"),
    ("dilation 0", dict(x=X, w=W_, dilation=0), "got 0"),
    ("negative padding", dict(x=X, w=W_, padding=-1), "got -1"),
    ("negative padding pair", dict(x=X, w=W_, padding=(0, -2)), "got [0, -2]"),
    ("bool stride", dict(x=X, w=W_, stride=True), "got True"),
    ("float stride", dict(x=X, w=W_, stride=1.5), "got 1.5"),
    ("kernel too large", dict(x=np.ones((1, 2, 2, 2)), w=np.ones((1, 2, 3, 3))), "the padded input is 2x2"),
    ("dilated kernel too large", dict(x=X, w=W_, dilation=3), "dilated kernel is 7x7"),
    ("string x", dict(x=[[[["a"]]]], w=np.ones((1, 1, 1, 1))), "got an array of dtype <U1"),
]

BACKWARD_CASES = [
    ("grad_out shape", dict(x=X, w=W_, grad_out=np.ones((1, 3, 4, 4))), "got shape (1, 3, 4, 4)"),
    ("grad_out rank", dict(x=X, w=W_, grad_out=np.ones((3, 3, 3))), "got 3 (shape (3, 3, 3))"),
    ("inf grad_out", dict(x=X, w=W_, grad_out=INF_G), "got NaN or infinity"),
    ("ragged grad_out", dict(x=X, w=W_, grad_out=[[[[1.0]], [[1.0, 2.0]]]]), "ragged"),
    ("bool dilation", dict(x=X, w=W_, grad_out=G, dilation=False), "got False"),
    ("negative padding", dict(x=X, w=W_, grad_out=G, padding=-1), "got -1"),
]


@pytest.mark.parametrize("name, kwargs, fragment", FORWARD_CASES, ids=[c[0] for c in FORWARD_CASES])
@pytest.mark.parametrize("forward", [naive.conv2d_forward, fast.conv2d_forward, convviz.conv2d], ids=["naive", "fast", "api"])
def test_forward_rejects_with_value_error(forward, name, kwargs, fragment):
    kwargs = dict(kwargs)
    x, w = kwargs.pop("x"), kwargs.pop("w")
    with pytest.raises(ValueError, match=re.escape(fragment)):
        forward(x, w, **kwargs)


@pytest.mark.parametrize("name, kwargs, fragment", BACKWARD_CASES, ids=[c[0] for c in BACKWARD_CASES])
@pytest.mark.parametrize(
    "backward", [naive.conv2d_backward, fast.conv2d_backward, naive.grad_x_scatter, convviz.conv2d_backward],
    ids=["naive", "fast", "scatter", "api"],
)
def test_backward_rejects_with_value_error(backward, name, kwargs, fragment):
    kwargs = dict(kwargs)
    x, w, grad_out = kwargs.pop("x"), kwargs.pop("w"), kwargs.pop("grad_out")
    with pytest.raises(ValueError, match=re.escape(fragment)):
        backward(x, w, grad_out, **kwargs)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 2, 2)), rng.standard_normal(3)
    grad_out = rng.standard_normal((2, 3, 4, 3))
    copies = [a.copy() for a in (x, w, b, grad_out)]
    for engine in (naive, fast):
        engine.conv2d_forward(x, w, b)
        engine.conv2d_backward(x, w, grad_out)
    for a, c in zip((x, w, b, grad_out), copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------------------------
# The fast engine's formulations, each forced on problems it was not picked for, its work
# buffers, and its threads (README "Performance" says which formulation runs for which shape)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rows", "windows"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(prob=problems(max_stride=3))
def test_each_formulation_matches_the_reference(monkeypatch, kind, prob):
    x, w, b, grad_out = prob["x"], prob["w"], prob["b"], prob["grad_out"]
    hp = dict(stride=prob["stride"], padding=prob["padding"], dilation=prob["dilation"])
    monkeypatch.setattr(fast, "formulation", lambda geo: kind)
    assert rel_err(fast.conv2d_forward(x, w, b, **hp), ref_forward(x, w, b, **hp)) < 1e-12
    for got, want in zip(fast.conv2d_backward(x, w, grad_out, **hp), ref_backward(x, w, grad_out, **hp)):
        assert got.shape == want.shape and rel_err(got, want) < 1e-12
    assert rel_err(fast.grad_x_scatter(x, w, grad_out, **hp), ref_backward(x, w, grad_out, **hp)[0]) < 1e-12


@pytest.mark.parametrize("x_shape, w_shape, hp, kind", [
    ((10, 32, 14, 14), (16, 32, 3, 3), dict(padding=1), "rows"),  # the tutorial's layer
    ((2, 3, 32, 32), (4, 3, 3, 3), dict(padding=1, dilation=2), "rows"),
    ((8, 16, 28, 28), (32, 16, 5, 5), dict(stride=2, padding=2), "rows"),  # the strided layer: col2im on phase planes
    ((2, 3, 8, 8), (4, 3, 2, 2), dict(stride=2), "rows"),
    ((2, 3, 28, 28), (4, 3, 5, 5), dict(stride=(3, 2), padding=2, dilation=(2, 1)), "rows"),
    ((2, 3, 4, 4), (4, 3, 3, 3), dict(padding=1), "rows"),  # 1 of 5 columns thrown away
    ((2, 3, 2, 2), (4, 3, 3, 3), dict(padding=[3, 1, 4, 3]), "rows"),  # windows reach 3 cells into the next row
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(stride=2), "rows"),  # 1 of 3
    ((1, 1, 3, 3), (1, 1, 2, 2), dict(), "rows"),
    ((2, 3, 1, 1), (4, 3, 3, 3), dict(padding=1), "rows"),  # 1 of 2: rows share their zeros (3 without)
    ((2, 3, 6, 2), (4, 3, 1, 5), dict(padding=(0, 2), stride=(2, 1)), "rows"),  # 2 of 4 (4 of 6)
    ((2, 3, 4, 3), (4, 3, 3, 3), dict(), "windows"),  # narrow, no padding to share: 2 of 3
    ((2, 3, 6, 4), (4, 3, 1, 5), dict(padding=(0, 1), stride=(2, 1)), "windows"),  # 3 of 5 (4 of 6)
])
def test_formulation_per_shape_and_against_naive(x_shape, w_shape, hp, kind):
    geo = Geometry.from_shapes(x_shape, w_shape, **hp)
    assert fast.formulation(geo) == kind
    rng = np.random.default_rng(sum(x_shape))
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    grad_out = rng.standard_normal(geo.out_shape)
    assert rel_err(fast.conv2d_forward(x, w, b, **hp), naive.conv2d_forward(x, w, b, **hp)) < 1e-12
    for got, want in zip(fast.conv2d_backward(x, w, grad_out, **hp), naive.conv2d_backward(x, w, grad_out, **hp)):
        assert rel_err(got, want) < 1e-12


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_rows_share_their_zeros_with_any_four_sided_padding(monkeypatch, data):
    """The "rows" layout keeps one set of zeros between two rows (a row's right padding is the
    next row's left padding), so a window near a row's end reads the next row's first cells:
    right only while they are zeros. Four sides drawn apart, some wider than the kernel (a window
    then reaches several cells into the next row), against the naive loops."""
    N, C, F = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    H, W, KH, KW = (data.draw(st.integers(1, 6)) for _ in range(4))
    pads = [data.draw(st.integers(0, 5)) for _ in range(4)]
    stride, dilation = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))), (data.draw(st.integers(1, 2)),) * 2
    try:
        geo = Geometry.from_shapes((N, C, H, W), (F, C, KH, KW), stride=stride, padding=pads, dilation=dilation)
    except ValueError:
        assume(False)
    assume(stride[0] <= geo.Hp and stride[1] <= geo.Wp)
    monkeypatch.setattr(fast, "formulation", lambda geo: "rows")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, KH, KW)), rng.standard_normal(F)
    grad_out = rng.standard_normal(geo.out_shape)
    hp = dict(stride=stride, padding=pads, dilation=dilation)
    want = naive.conv2d_backward(x, w, grad_out, **hp)
    fast.conv2d_forward(-x, w, b, **hp)  # another x: the backward pass unrolls this x itself
    backward_alone = fast.conv2d_backward(x, w, grad_out, **hp)
    assert rel_err(fast.conv2d_forward(x, w, b, **hp), naive.conv2d_forward(x, w, b, **hp)) < 1e-12
    for results in (backward_alone, fast.conv2d_backward(x, w, grad_out, **hp)):  # then with the kept windows
        for got, expected in zip(results, want):
            assert got.shape == expected.shape and rel_err(got, expected) < 1e-12


@pytest.mark.parametrize("x_shape, w_shape, hp", [
    ((2, 4, 5, 6), (4, 1, 3, 3), dict(padding=1, groups=4)),  # depthwise: grad_w as dot products (vecdot)
    ((2, 6, 5, 4), (4, 3, 2, 3), dict(padding=[1, 0, 2, 1], dilation=(1, 2), groups=2)),  # a product per group
    ((1, 8, 6, 6), (16, 1, 5, 5), dict(padding=2, groups=8)),  # depthwise, 2 kernels per channel
    ((2, 9, 4, 4), (9, 3, 3, 3), dict(padding=1, groups=3)),  # 9 x 9 per group: the matrix product
    ((2, 4, 9, 8), (4, 1, 3, 3), dict(stride=2, padding=1, groups=4)),  # depthwise, stride 2: col2im per group
    ((1, 6, 11, 9), (9, 2, 5, 4), dict(stride=(3, 2), padding=[2, 1, 0, 3], dilation=(1, 2), groups=3)),
])
def test_groups_run_rows_with_a_product_per_group(x_shape, w_shape, hp):
    """Groups run the "rows" formulation, each product batched over the groups (the transposed
    convolution's dual too; with a stride, col2im into channels-last planes per group); against
    the naive loops, also after the forward pass kept its windows."""
    geo = Geometry.from_shapes(x_shape, w_shape, **hp)
    assert fast.formulation(geo) == "rows" and fast._tuned(geo)
    rng = np.random.default_rng(sum(w_shape))
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    grad_out = rng.standard_normal(geo.out_shape)
    want = naive.conv2d_backward(x, w, grad_out, **hp)
    for got, expected in zip(fast.conv2d_backward(x, w, grad_out, **hp), want):  # windows unrolled here
        assert rel_err(got, expected) < 1e-12
    assert rel_err(fast.conv2d_forward(x, w, b, **hp), naive.conv2d_forward(x, w, b, **hp)) < 1e-12
    for got, expected in zip(fast.conv2d_backward(x, w, grad_out, **hp), want):  # the forward's windows
        assert rel_err(got, expected) < 1e-12


def test_results_never_share_memory_with_work_buffers():
    """The work buffers go back to the pool after each call; a result that was a view of one
    would change under the caller at the next call. Shapes where the last copy is already
    contiguous (N = 1, no thrown-away columns) are where that could happen."""
    rng = np.random.default_rng(3)
    for x_shape, w_shape, hp in [((1, 1, 3, 3), (1, 1, 2, 2), {}), ((1, 2, 6, 6), (3, 2, 1, 1), {}),
                                 ((2, 2, 9, 9), (3, 2, 3, 3), dict(padding=1)), ((1, 2, 9, 9), (3, 2, 3, 3), dict(stride=2))]:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        geo = Geometry.from_shapes(x_shape, w_shape, **hp)
        grad_out = rng.standard_normal(geo.out_shape)
        results = [fast.conv2d_forward(x, w, **hp), *fast.conv2d_backward(x, w, grad_out, **hp),
                   fast.grad_x_scatter(x, w, grad_out, **hp)]
        copies = [r.copy() for r in results]
        for _ in range(3):  # other problems of the same and other sizes reuse the buffers
            fast.conv2d_forward(-x, -w, **hp)
            fast.conv2d_backward(2 * x, w, -grad_out, **hp)
            fast.conv2d_forward(rng.standard_normal((3, 2, 7, 7)), rng.standard_normal((2, 2, 2, 2)))
        for r, c in zip(results, copies):
            assert r.flags.c_contiguous and not any(np.shares_memory(r, buf) for buf in fast._POOL.buffers())
            np.testing.assert_array_equal(r, c)


def test_concurrent_calls_from_threads_give_the_single_threaded_answers():
    """The server solves problems in several worker threads at once; each call borrows its own
    buffers, so interleaved calls of different shapes give exactly the answers of one thread."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    cases = []
    for x_shape, w_shape, hp in [((4, 6, 14, 14), (5, 6, 3, 3), dict(padding=1)),
                                 ((3, 4, 16, 16), (6, 4, 5, 5), dict(stride=2, padding=2)),
                                 ((2, 3, 10, 12), (4, 3, 3, 2), dict(dilation=(2, 1))),
                                 ((5, 2, 8, 8), (3, 2, 1, 1), {})]:
        geo = Geometry.from_shapes(x_shape, w_shape, **hp)
        args = (rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(geo.out_shape))
        cases.append((args, hp))

    def solve(case):
        (x, w, grad_out), hp = case
        return [fast.conv2d_forward(x, w, **hp), *fast.conv2d_backward(x, w, grad_out, **hp)]

    expected = [solve(case) for case in cases]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(solve, cases * 25))
    for k, results in enumerate(got):
        for r, e in zip(results, expected[k % len(cases)]):
            np.testing.assert_array_equal(r, e)


def test_work_buffer_pool_stays_bounded():
    pool = fast._Pool(max_keep=1 << 20, max_total=3 << 20)
    with pool.lend() as take:
        big = take((1 << 18,))  # 2 MiB: over max_keep, dropped when given back
        small = [take((1 << 16,)) for _ in range(10)]  # 512 KiB each
        assert big.shape == (1 << 18,) and all(s.shape == (1 << 16,) for s in small)
    kept = pool.buffers()
    assert all(buf.nbytes <= 1 << 20 for buf in kept) and sum(buf.nbytes for buf in kept) <= 3 << 20
    with pool.lend() as take:  # a buffer comes back for the next call, the smallest that fits
        again = take((1000,))
        assert any(np.shares_memory(again, buf) for buf in kept)
    with pytest.raises(RuntimeError):
        with pool.lend() as take:
            take((10,))
            raise RuntimeError("a failing call still gives its buffers back")
    assert len(pool.buffers()) == len(kept)


@pytest.mark.parametrize("hp", [dict(padding=1), dict(stride=2, padding=1), dict(padding=(0, 1), dilation=2)])
def test_backward_reuses_the_forward_windows_only_for_the_same_x(hp):
    """The forward pass keeps its unrolled windows for a backward pass on the same x; another x,
    or the same array changed in place (even a 0.0 made -0.0), must not get them."""
    rng = np.random.default_rng(21)
    x, w = rng.standard_normal((3, 4, 12, 12)), rng.standard_normal((5, 4, 3, 3))
    geo = Geometry.from_shapes(x.shape, w.shape, **hp)
    grad_out = rng.standard_normal(geo.out_shape)

    full = (hp.get("stride", 1), hp.get("padding", 0), hp.get("dilation", 1))

    def check(x_now):
        for got, want in zip(fast.conv2d_backward(x_now, w, grad_out, **hp), ref_backward(x_now, w, grad_out, *full)):
            assert rel_err(got, want) < 1e-12

    fast.conv2d_forward(x, w, **hp)
    check(x)  # the same x: the kept windows
    check(x)  # and again
    check(x + 1.0)  # another x of the same shape
    fast.conv2d_forward(x, w, **hp)
    x[1, 2, 3, 4] += 0.5  # changed in place after the forward pass
    check(x)
    kind = fast.formulation(geo)
    x[0, 0, 0, 0] = 0.0
    fast.conv2d_forward(x, w, **hp)
    with fast._LAST_COLUMNS.borrow(x, geo, kind) as kept:
        assert kept is not None  # the same bits
    x[0, 0, 0, 0] = -0.0  # equal as a number, not as bits: not the x the windows came from
    with fast._LAST_COLUMNS.borrow(x, geo, kind) as kept:
        assert kept is None
    check(x)
    fast.conv2d_forward(x, w, **hp)
    other = Geometry.from_shapes(x.shape, (5, 4, 3, 3), stride=3)  # same x, another geometry
    grad_other = rng.standard_normal(other.out_shape)
    for got, want in zip(fast.conv2d_backward(x, w, grad_other, stride=3), ref_backward(x, w, grad_other, 3, 0, 1)):
        assert rel_err(got, want) < 1e-12


@pytest.mark.parametrize("stride", [(10**9, 10**9), (7, 1), (1, 4), (6, 3)])
def test_strides_beyond_the_input_run_without_planes_per_stride_step(stride):
    """A stride longer than the padded input reads one window per axis; the 'rows' layout would
    keep sh*sw phase planes (stride 1e9: an allocation numpy refuses), so such shapes run
    'windows', and agree with the naive loops (found by tests/test_fuzz.py)."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 1, 5, 3)), rng.standard_normal((1, 1, 3, 2))
    geo = Geometry.from_shapes(x.shape, w.shape, stride=stride)
    assert fast.formulation(geo) == "windows"  # every stride here exceeds the padded input on an axis
    g = rng.standard_normal(geo.out_shape)
    np.testing.assert_allclose(fast.conv2d_forward(x, w, stride=stride), naive.conv2d_forward(x, w, stride=stride),
                               rtol=1e-12, atol=1e-12)
    for a, b in zip(fast.conv2d_backward(x, w, g, stride=stride), naive.conv2d_backward(x, w, g, stride=stride)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_remembered_geometries_refuse_what_equals_an_accepted_value():
    """The engines remember validated geometries by their arguments (``checks._geometry``):
    ``True`` and ``1.0`` equal ``1`` in Python but are refused as a stride, also after ``1`` was
    accepted; a refusal is never remembered; the remembered geometry is the one validation builds."""
    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))
    for stride in (1, [1, 1], (1, 1)):
        fast.conv2d_forward(x, w, stride=stride)
    for bad in (True, 1.0, (1, True), [1, 1.0]):
        with pytest.raises(ValueError, match="stride must be an integer or a pair of integers >= 1"):
            fast.conv2d_forward(x, w, stride=bad)
        with pytest.raises(ValueError, match="stride must be"):  # still refused the second time
            naive.conv2d_forward(x, w, stride=bad)
    _, _, _, _, geo = check_problem(x, w, stride=2, padding=[1, 0, 1, 0])
    assert geo == Geometry.from_shapes(x.shape, w.shape, stride=2, padding=[1, 0, 1, 0])
    assert check_problem(x, w, stride=2, padding=[1, 0, 1, 0])[-1] is geo  # remembered
    assert check_problem(x, w, stride=2, padding=[0, 1, 0, 1])[-1].pads == (0, 1, 0, 1)


def test_finite_check_sees_every_kind_of_bad_cell():
    """``checks._all_finite`` takes a sum of squares first (arrays over 4,096 cells; smaller ones
    ``isfinite``): NaN or an infinity anywhere is refused, in both ways, in contiguous and
    strided arrays, and cells so large that the sum overflows are still accepted as finite."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 30, 30)), rng.standard_normal((2, 3, 3, 3))  # 5,400 cells: the BLAS sum
    for bad in (np.nan, np.inf, -np.inf):
        for where in [(0, 0, 0, 0), (1, 2, 29, 29), (1, 1, 2, 3), (0, 0, 1, 1)]:
            y = x.copy()
            y[where] = bad
            for arr in (y, np.asfortranarray(y), y[:, :, ::-1], y[:, :, :4, :4].copy()):  # the last: isfinite
                if np.isfinite(arr).all():
                    continue  # the cropped copy may have left the bad cell out
                with pytest.raises(ValueError, match="x must hold finite numbers, got NaN or infinity"):
                    fast.conv2d_forward(arr, w)
    huge = np.full((1, 1, 80, 80), 1e300)  # squares overflow (and 6,400 cells: the BLAS sum); every cell is finite
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and the overflow inside the check warns nobody
        assert np.array_equal(fast.conv2d_forward(huge, np.ones((1, 1, 1, 1))), huge)
